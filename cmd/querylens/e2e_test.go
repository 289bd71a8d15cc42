package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/fingerprint"
	"github.com/querylens/querylens/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.RunMain(m)) }

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

type instance struct {
	listen, http string
	logs         *syncBuffer
	stop         func() error
}

// startQuerylens runs the real command in-process until the test ends.
func startQuerylens(t *testing.T, upstream string, extra ...string) *instance {
	t.Helper()
	in := &instance{listen: freeAddr(t), http: freeAddr(t), logs: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := append([]string{"--listen", in.listen, "--upstream", upstream, "--http", in.http, "--log-level", "debug"}, extra...)
	go func() { done <- run(ctx, args, io.Discard, in.logs) }()
	var once sync.Once
	var runErr error
	in.stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() {
		if err := in.stop(); err != nil {
			t.Errorf("run returned %v", err)
		}
		if t.Failed() {
			t.Logf("querylens logs:\n%s", in.logs.String())
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + in.http + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 10*time.Second, 10*time.Millisecond, "querylens did not come up")
	return in
}

type apiDigest struct {
	Digest      string `json:"digest"`
	Schema      string `json:"schema"`
	Fingerprint string `json:"fingerprint"`
	Count       uint64 `json:"count"`
	Errors      uint64 `json:"errors"`
	RowsSent    uint64 `json:"rows_sent"`
	Latency     struct {
		Sum float64 `json:"sum"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"latency_seconds"`
}

func getDigests(t *testing.T, httpAddr, query string) []apiDigest {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/api/v1/digests?limit=10000&" + query)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var body struct {
		Digests []apiDigest `json:"digests"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return body.Digests
}

// TestDigestCountsMatchServer runs a text-protocol workload through the
// proxy with go-sql-driver and the mariadb CLI, then checks that for every
// statement shape the proxy's count equals the server's own COUNT_STAR in
// performance_schema.events_statements_summary_by_digest. The server's
// DIGEST_TEXT is joined to our digests by fingerprinting it: server digests
// (MD5 over its token array) cannot be reproduced, but both texts normalize
// to the same fingerprint.
func TestDigestCountsMatchServer(t *testing.T) {
	srv := testdb.Require(t)
	root, err := srv.Root()
	require.NoError(t, err)
	defer root.Close()
	const schema = "e2e_digests"
	_, err = root.Exec("DROP DATABASE IF EXISTS " + schema + "; CREATE DATABASE " + schema)
	require.NoError(t, err)
	_, err = root.Exec("TRUNCATE performance_schema.events_statements_summary_by_digest")
	require.NoError(t, err)

	ql := startQuerylens(t, srv.Addr)
	db, err := sql.Open("mysql", srv.DSN(ql.listen, schema)) // interpolateParams: text protocol
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(4)

	mustExec := func(q string, args ...any) {
		t.Helper()
		_, err := db.Exec(q, args...)
		require.NoError(t, err, q)
	}
	// DDL goes around the proxy: the server's DIGEST_TEXT renames types
	// (VARCHAR → VARCHARACTER), so DDL cannot be joined by text.
	_, err = root.Exec("CREATE TABLE " + schema + ".items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(10,2), tag VARCHAR(10))")
	require.NoError(t, err)
	for i := range 50 {
		mustExec("INSERT INTO items (id, name, price, tag) VALUES (?, ?, ?, ?)", i, fmt.Sprintf("item-%d", i), float64(i)*1.5, "t"+fmt.Sprint(i%3))
	}
	for i := range 120 {
		var name string
		require.NoError(t, db.QueryRow("SELECT name FROM items WHERE id = ?", i%50).Scan(&name))
	}
	for i := range 30 {
		rows, err := db.Query("SELECT id, price FROM items WHERE price > ? ORDER BY price LIMIT 10", i)
		require.NoError(t, err)
		for rows.Next() {
		}
		require.NoError(t, rows.Close())
	}
	for i := range 20 {
		mustExec("UPDATE items SET price = price + 1 WHERE id = ?", i)
	}
	for i := range 7 {
		_, err := db.Exec("SELECT * FROM missing_table WHERE id = ?", i)
		require.Error(t, err)
	}
	for i := range 9 {
		mustExec("DELETE FROM items WHERE tag = ? AND id > ?", "none", 1000+i)
	}
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM items").Scan(&n))
	require.Equal(t, 50, n)
	require.NoError(t, db.Close())

	if cli, err := exec.LookPath("mariadb"); err == nil {
		host, port, _ := net.SplitHostPort(ql.listen)
		for i := range 3 {
			out, err := exec.Command(cli, "--no-defaults", "-h", host, "-P", port, "-u", testdb.User,
				"-p"+testdb.Password, "-D", schema, "--batch",
				"-e", fmt.Sprintf("SELECT name FROM items WHERE id = %d; SELECT COUNT(*) FROM items", i+3)).CombinedOutput()
			require.NoError(t, err, string(out))
			assert.Contains(t, string(out), fmt.Sprintf("item-%d", i+3))
		}
	} else if os.Getenv("CI") == "true" {
		t.Fatal("mariadb CLI missing in CI; install mariadb-client")
	}

	// What the server counted, by our fingerprint of its DIGEST_TEXT.
	rows, err := root.Query(`SELECT DIGEST_TEXT, COUNT_STAR, SUM_ERRORS, SUM_ROWS_SENT
		FROM performance_schema.events_statements_summary_by_digest WHERE SCHEMA_NAME = ?`, schema)
	require.NoError(t, err)
	fp := fingerprint.New(fingerprint.DefaultConfig())
	type counts struct{ count, errors, rows uint64 }
	server := map[string]counts{}
	texts := map[string]string{}
	for rows.Next() {
		var text string
		var c counts
		require.NoError(t, rows.Scan(&text, &c.count, &c.errors, &c.rows))
		f := fp.Fingerprint(text)
		d := f.Digest.String()
		prev := server[d]
		server[d] = counts{prev.count + c.count, prev.errors + c.errors, prev.rows + c.rows}
		texts[d] = text
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, server)

	ours := map[string]apiDigest{}
	for _, d := range getDigests(t, ql.http, "schema="+schema) {
		ours[d.Digest] = d
	}
	for d, c := range server {
		got, ok := ours[d]
		if !assert.True(t, ok, "server digest %q (count %d) not found in querylens", texts[d], c.count) {
			continue
		}
		assert.Equal(t, c.count, got.Count, "count of %q", got.Fingerprint)
		assert.Equal(t, c.errors, got.Errors, "errors of %q", got.Fingerprint)
		assert.Equal(t, c.rows, got.RowsSent, "rows sent of %q", got.Fingerprint)
	}
	for d, got := range ours {
		_, ok := server[d]
		assert.True(t, ok, "querylens digest %q (count %d) unknown to the server", got.Fingerprint, got.Count)
	}
	// Spot checks on the shapes themselves.
	count := func(sql string) apiDigest { return ours[fp.Fingerprint(sql).Digest.String()] }
	assert.Equal(t, uint64(120+3), count("SELECT name FROM items WHERE id = 1").Count)
	assert.Equal(t, uint64(50), count("INSERT INTO items (id, name, price, tag) VALUES (1, 'a', 1.5, 't')").Count)
	assert.Equal(t, uint64(7), count("SELECT * FROM missing_table WHERE id = 3").Errors)
	assert.Equal(t, uint64(30*10), count("SELECT id, price FROM items WHERE price > 1 ORDER BY price LIMIT 10").RowsSent)
	for _, d := range ours {
		assert.Greater(t, d.Latency.Sum, 0.0, d.Fingerprint)
		assert.GreaterOrEqual(t, d.Latency.Max, d.Latency.P99*0.9, d.Fingerprint)
	}
}

// TestMetricsEndpoint checks /metrics exposes the relay and statement
// series after some traffic.
func TestMetricsEndpoint(t *testing.T) {
	srv := testdb.Require(t)
	ql := startQuerylens(t, srv.Addr)
	db, err := sql.Open("mysql", srv.DSN(ql.listen, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	for range 5 {
		var one int
		require.NoError(t, db.QueryRow("SELECT 1").Scan(&one))
	}
	require.NoError(t, db.Close())

	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + ql.http + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, `querylens_commands_total{command="query"} 5`)
	}, 5*time.Second, 20*time.Millisecond, "metrics:\n%s", body)
	for _, want := range []string{
		"querylens_connections_total 1",
		"querylens_connections_open 0",
		`querylens_relay_bytes_total{direction="client_to_server"}`,
		`querylens_relay_bytes_total{direction="server_to_client"}`,
		"querylens_decode_errors_total 0",
		"querylens_statements_total{",
	} {
		assert.Contains(t, body, want)
	}
}
