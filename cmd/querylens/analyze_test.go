package main

import (
	"bufio"
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
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/capture"
	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/stats"
)

// tcpdumpOn starts tcpdump on the loopback interface, writing the TCP
// traffic of port to file, and returns once it listens. stop ends it with
// SIGINT (by pid) and waits, so the file is complete.
func tcpdumpOn(t *testing.T, port, file string) (stop func()) {
	t.Helper()
	bin, err := exec.LookPath("tcpdump")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump missing in CI; .ci/run installs it (apt-get install tcpdump)")
		}
		t.Skip("tcpdump not installed: sudo apt-get install tcpdump")
	}
	cmd := exec.Command(bin, "-i", "lo", "--immediate-mode", "-B", "65536", "-w", file, "-U", "-s", "0", "tcp port "+port)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	ready := make(chan string, 1)
	done := make(chan struct{})
	var out bytes.Buffer
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "listening on") {
				ready <- ""
			}
		}
		close(ready)
	}()
	select {
	case _, ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			if os.Getenv("CI") == "true" {
				t.Fatalf("tcpdump cannot capture on lo: %s", out.String())
			}
			t.Skipf("tcpdump cannot capture on lo (run as root or give it CAP_NET_RAW): %s", out.String())
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("tcpdump did not start listening: %s", out.String())
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		// Packets still queued in the kernel when tcpdump gets SIGINT are
		// lost: wait until the file has stopped growing first.
		var size int64 = -1
		for range 100 {
			time.Sleep(100 * time.Millisecond)
			fi, err := os.Stat(file)
			if err == nil && fi.Size() == size {
				break
			}
			if err == nil {
				size = fi.Size()
			}
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		// tcpdump exits 0 on SIGINT after flushing the file.
		_ = cmd.Wait()
		<-done
		t.Logf("tcpdump: %s", strings.TrimSpace(out.String()))
		// A capture that lost packets cannot be compared exactly.
		if m := regexp.MustCompile(`(\d+) packets dropped by kernel`).FindStringSubmatch(out.String()); m != nil && m[1] != "0" {
			t.Fatalf("tcpdump dropped %s packets: the capture is incomplete", m[1])
		}
	}
	t.Cleanup(stop)
	t.Cleanup(func() {
		if dir := os.Getenv("QUERYLENS_KEEP_CAPTURES"); dir != "" && t.Failed() {
			b, err := os.ReadFile(file)
			if err == nil {
				_ = os.WriteFile(filepath.Join(dir, t.Name()+".pcap"), b, 0o644)
			}
		}
	})
	return stop
}

// analyzeDigest is one entry of `querylens analyze --format json`.
type analyzeDigest struct {
	Digest      string `json:"digest"`
	Schema      string `json:"schema"`
	Fingerprint string `json:"fingerprint"`
	Count       uint64 `json:"count"`
	Errors      uint64 `json:"errors"`
	RowsSent    uint64 `json:"rows_sent"`
}

// runAnalyze runs `querylens analyze --format json` in-process and returns
// its digests and its stderr summary.
func runAnalyze(t *testing.T, args ...string) ([]analyzeDigest, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"analyze", "--format", "json", "--top", "100000"}, args...), &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	var body struct {
		Digests []analyzeDigest `json:"digests"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &body), stdout.String())
	return body.Digests, stderr.String()
}

func withDSN(t *testing.T, dsn string, edit func(*mysql.Config)) string {
	t.Helper()
	c, err := mysql.ParseDSN(dsn)
	require.NoError(t, err)
	edit(c)
	return c.FormatDSN()
}

// TestAnalyzeMatchesProxy records the proxy→server leg of a workload run
// through the live proxy and checks that `querylens analyze` on the capture
// counts exactly what the proxy counted, per fingerprint: text statements,
// prepared statements (binary protocol) and a compressed connection
// (issue 8, acceptance 1).
func TestAnalyzeMatchesProxy(t *testing.T) {
	srv := testdb.Require(t)
	_, port, err := net.SplitHostPort(srv.Addr)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "proxy.pcap")
	stop := tcpdumpOn(t, port, file)

	ql := startQuerylens(t, srv.Addr)
	const schema = testdb.Schema
	workload := func(dsn string, prefix string) {
		db, err := sql.Open("mysql", dsn)
		require.NoError(t, err)
		defer db.Close()
		db.SetMaxOpenConns(1)
		table := prefix + "_items"
		_, err = db.Exec("DROP TABLE IF EXISTS " + table)
		require.NoError(t, err)
		_, err = db.Exec("CREATE TABLE " + table + " (id INT PRIMARY KEY, name VARCHAR(40), note TEXT)")
		require.NoError(t, err)
		for i := range 40 {
			_, err := db.Exec("INSERT INTO "+table+" (id, name, note) VALUES (?, ?, ?)", i, fmt.Sprintf("item-%d", i), strings.Repeat("x", i*50))
			require.NoError(t, err)
		}
		for i := range 60 {
			var name string
			require.NoError(t, db.QueryRow("SELECT name FROM "+table+" WHERE id = ?", i%40).Scan(&name))
		}
		for i := range 15 {
			rows, err := db.Query("SELECT id, name, note FROM "+table+" WHERE id >= ? ORDER BY id", i)
			require.NoError(t, err)
			for rows.Next() {
			}
			require.NoError(t, rows.Close())
		}
		for i := range 5 {
			_, err := db.Exec("SELECT * FROM "+prefix+"_missing WHERE id = ?", i)
			require.Error(t, err)
		}
		for i := range 10 {
			_, err := db.Exec("UPDATE "+table+" SET name = ? WHERE id = ?", fmt.Sprintf("n%d", i), i)
			require.NoError(t, err)
		}
		var n int
		require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n))
		require.Equal(t, 40, n)
	}
	base := srv.DSN(ql.listen, schema)
	workload(base, "text") // interpolateParams: text protocol
	workload(withDSN(t, base, func(c *mysql.Config) { c.InterpolateParams = false }), "bin")
	workload(withDSN(t, base, func(c *mysql.Config) {
		c.InterpolateParams = false
		require.NoError(t, c.Apply(mysql.EnableCompression(true)))
	}), "zip")

	proxied := getDigests(t, ql.http, "")
	time.Sleep(stats.DefaultUnitGap + 250*time.Millisecond) // the last units of work end
	proxiedFindings := findingSet(t, getJSON(t, "http://"+ql.http+"/api/v1/findings?all=1"))
	require.NoError(t, ql.stop()) // every connection closed and counted
	stop()

	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"analyze", "--format", "json", "--port", port, file}, &out, &errb), errb.String())
	analyzedFindings := findingSet(t, out.Bytes())
	t.Logf("findings: %v", analyzedFindings)
	assert.NotEmpty(t, proxiedFindings)
	assert.Equal(t, proxiedFindings, analyzedFindings, "the same findings live and offline")

	got, summary := runAnalyze(t, "--port", port, file)
	t.Log(summary)
	assert.Contains(t, summary, " 0 gaps, 0 desyncs")

	type key struct{ fingerprint, schema string }
	type counts struct{ count, errors, rows uint64 }
	want := map[key]counts{}
	for _, d := range proxied {
		want[key{d.Fingerprint, d.Schema}] = counts{d.Count, d.Errors, d.RowsSent}
	}
	have := map[key]counts{}
	for _, d := range got {
		have[key{d.Fingerprint, d.Schema}] = counts{d.Count, d.Errors, d.RowsSent}
	}
	require.NotEmpty(t, want)
	assert.Equal(t, want, have)
	for _, prefix := range []string{"text", "bin", "zip"} {
		assert.Equal(t, counts{60, 0, 60}, have[key{"select name from " + prefix + "_items where id = ?", schema}], prefix)
	}
	// Without interpolation the missing table fails at PREPARE; as text
	// statements the five executions fail.
	assert.Equal(t, counts{5, 5, 0}, have[key{"select * from text_missing where id = ?", schema}])
}

// TestAnalyzeMidSession starts the capture on connections that are already
// open: the statements run before it are not counted, every statement after
// the first complete command is, text, prepared and compressed alike
// (issue 8, acceptance 2).
func TestAnalyzeMidSession(t *testing.T) {
	srv := testdb.Require(t)
	_, port, err := net.SplitHostPort(srv.Addr)
	require.NoError(t, err)
	ctx := context.Background()

	open := func(dsn string) *sql.Conn {
		db, err := sql.Open("mysql", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		c, err := db.Conn(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	text := open(srv.DSN("", testdb.Schema))
	bin := open(withDSN(t, srv.DSN("", testdb.Schema), func(c *mysql.Config) { c.InterpolateParams = false }))
	zip := open(withDSN(t, srv.DSN("", testdb.Schema), func(c *mysql.Config) {
		require.NoError(t, c.Apply(mysql.EnableCompression(true)))
	}))
	exec := func(c *sql.Conn, q string, args ...any) {
		t.Helper()
		rows, err := c.QueryContext(ctx, q, args...)
		require.NoError(t, err, q)
		for rows.Next() {
		}
		require.NoError(t, rows.Close())
	}
	exec(text, "DROP TABLE IF EXISTS mid_items")
	exec(text, "CREATE TABLE mid_items (id INT PRIMARY KEY, name VARCHAR(40))")
	for i := range 20 {
		exec(text, "INSERT INTO mid_items VALUES (?, ?)", i, fmt.Sprint("n", i))
	}
	for i := range 11 {
		exec(text, "SELECT name FROM mid_items WHERE id = ?", i)
		exec(bin, "SELECT id FROM mid_items WHERE name = ?", fmt.Sprint("n", i))
		exec(text, "SELECT 'before the capture', ?", i)
		exec(zip, "SELECT name FROM mid_items WHERE id < ? ORDER BY id DESC", i)
	}

	file := filepath.Join(t.TempDir(), "mid.pcap")
	stop := tcpdumpOn(t, port, file)
	for i := range 7 {
		exec(text, "SELECT name FROM mid_items WHERE id = ?", i)
		exec(text, "SELECT id, name FROM mid_items WHERE id > ? ORDER BY id", i)
		exec(bin, "SELECT id FROM mid_items WHERE name = ?", fmt.Sprint("n", i))
		exec(zip, "SELECT name FROM mid_items WHERE id < ? ORDER BY id DESC", i)
	}
	for i := range 4 {
		exec(text, "UPDATE mid_items SET name = ? WHERE id = ?", fmt.Sprint("m", i), i)
		exec(bin, "SELECT COUNT(*) FROM mid_items WHERE id < ?", i)
	}
	stop()

	got, summary := runAnalyze(t, "--port", port, file)
	t.Log(summary)
	assert.Contains(t, summary, "3 MySQL connections (3 joined mid-stream)")
	have := map[string]uint64{}
	rows := map[string]uint64{}
	for _, d := range got {
		assert.Empty(t, d.Schema, "the schema of a connection joined mid-stream is unknown: %q", d.Fingerprint)
		have[d.Fingerprint] += d.Count
		rows[d.Fingerprint] += d.RowsSent
	}
	// Rows are counted too: text and binary result sets were framed right.
	assert.Equal(t, uint64(7), rows["select name from mid_items where id = ?"])
	assert.Equal(t, uint64(7), rows["select id from mid_items where name = ?"])
	assert.Equal(t, uint64(0+1+2+3+4+5+6), rows["select name from mid_items where id < ? order by id desc"], "compressed")
	assert.Equal(t, uint64(19+18+17+16+15+14+13), rows["select id, name from mid_items where id > ? order by id"])
	// Without interpolation go-sql-driver prepares, executes and closes
	// each statement; the executions are counted.
	want := map[string]uint64{
		"select name from mid_items where id = ?":                  7,
		"select id, name from mid_items where id > ? order by id":  7,
		"select id from mid_items where name = ?":                  7,
		"update mid_items set name = ? where id = ?":               4,
		"select count(*) from mid_items where id < ?":              4,
		"select name from mid_items where id < ? order by id desc": 7,
	}
	assert.Equal(t, want, have)
}

// TestAnalyzeCommandLine covers the command without a server: output
// formats, the snapshot that `querylens report` merges, and bad input.
func TestAnalyzeCommandLine(t *testing.T) {
	const session = "../../capture/testdata/session.pcap"
	ctx := context.Background()
	analyzeRun := func(args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		err := run(ctx, append([]string{"analyze"}, args...), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}

	t.Run("text report and summary", func(t *testing.T) {
		out, errOut, err := analyzeRun(session)
		require.NoError(t, err)
		assert.Contains(t, out, "# querylens report")
		assert.Contains(t, out, "select id, name from cap_items where id >= ? order by id")
		assert.Equal(t, 1, strings.Count(errOut, "\n"), "one summary line: %q", errOut)
		assert.Contains(t, errOut, "2 TCP flows, 2 MySQL connections (0 joined mid-stream), 0 TLS connections (not decoded), 0 gaps, 0 desyncs")
		md, _, err := analyzeRun("--format", "markdown", session)
		require.NoError(t, err)
		assert.Contains(t, md, "```sql")
	})

	t.Run("snapshot merges in report", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "snap.json")
		out, _, err := analyzeRun("--snapshot", file, session)
		require.NoError(t, err)
		assert.Empty(t, out)
		direct, _, err := analyzeRun("--format", "json", session)
		require.NoError(t, err)
		var fromReport bytes.Buffer
		require.NoError(t, run(ctx, []string{"report", "--format", "json", file}, &fromReport, io.Discard))
		assert.JSONEq(t, direct, fromReport.String())
		// Two snapshots merge: every count doubles.
		var one, two struct {
			Digests []analyzeDigest `json:"digests"`
		}
		require.NoError(t, json.Unmarshal([]byte(direct), &one))
		fromReport.Reset()
		require.NoError(t, run(ctx, []string{"report", "--format", "json", file, file}, &fromReport, io.Discard))
		require.NoError(t, json.Unmarshal(fromReport.Bytes(), &two))
		require.Len(t, two.Digests, len(one.Digests))
		for i := range one.Digests {
			assert.Equal(t, 2*one.Digests[i].Count, two.Digests[i].Count)
		}
	})

	t.Run("capture time, not wall clock", func(t *testing.T) {
		out, _, err := analyzeRun("--format", "json", session)
		require.NoError(t, err)
		var doc struct{ Taken, Since time.Time }
		require.NoError(t, json.Unmarshal([]byte(out), &doc))
		first, err := os.Open(session)
		require.NoError(t, err)
		defer first.Close()
		start, err := capture.FirstPacketTime(first)
		require.NoError(t, err)
		assert.Equal(t, start, doc.Since.UTC(), "statistics start at the first packet")
		assert.True(t, doc.Taken.After(doc.Since))
		assert.Less(t, doc.Taken.Sub(doc.Since), time.Minute, "the capture lasts a fraction of a second")
	})

	t.Run("bad input", func(t *testing.T) {
		dir := t.TempDir()
		text := filepath.Join(dir, "notes.txt")
		require.NoError(t, os.WriteFile(text, []byte("SELECT 1\n"), 0o644))
		whole, err := os.ReadFile(session)
		require.NoError(t, err)
		cut := filepath.Join(dir, "cut.pcap")
		require.NoError(t, os.WriteFile(cut, whole[:len(whole)-10], 0o644))

		for _, tc := range []struct {
			name string
			args []string
			msg  string
			code int
		}{
			{"not a capture", []string{text}, "capture " + text + ": not a pcap or pcapng capture", 1},
			{"missing file", []string{filepath.Join(dir, "nope.pcap")}, "no such file", 1},
			{"no file", nil, "no capture to analyse", 2},
			{"bad port", []string{"--port", "http", session}, "invalid value for flag -port", 2},
			{"bad server", []string{"--server", "db:x", session}, "invalid value for flag -server", 2},
			{"bad format", []string{"--format", "xml", session}, "invalid value for flag -format", 2},
			{"unknown flag", []string{"--nope", session}, "flag provided but not defined: -nope", 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out, _, err := analyzeRun(tc.args...)
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.msg)
				assert.NotContains(t, err.Error(), "\n")
				assert.Equal(t, tc.code, exitCode(err))
				assert.Empty(t, out)
			})
		}

		// A truncated file: reported, and what came before is analysed.
		out, _, err := analyzeRun(cut)
		require.ErrorIs(t, err, capture.ErrTruncated)
		assert.Equal(t, 1, exitCode(err))
		assert.NotContains(t, err.Error(), "\n")
		assert.Contains(t, out, "select id, name from cap_items where id >= ? order by id")
	})

	t.Run("help", func(t *testing.T) {
		out, _, err := analyzeRun("-h")
		require.NoError(t, err)
		assert.Contains(t, out, "Usage: querylens analyze")
		assert.Contains(t, out, "-snapshot")
	})
}

// findingSet reads the findings of an API or report document as
// "kind executions fingerprint" lines.
func findingSet(t *testing.T, doc []byte) map[string]bool {
	t.Helper()
	var body struct {
		Findings []struct {
			Kind        string `json:"kind"`
			Fingerprint string `json:"fingerprint"`
			Executions  uint64 `json:"executions"`
		} `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(doc, &body), string(doc))
	set := map[string]bool{}
	for _, f := range body.Findings {
		set[fmt.Sprintf("%s %d %s", f.Kind, f.Executions, f.Fingerprint)] = true
	}
	return set
}

func getJSON(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}
