package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
)

// TestHTTPBindRules: a loopback or unix --http needs nothing; any other
// bind needs --http-token or --http-insecure, else the start stops with one
// line naming -http and exit code 2. Refused addresses are never bound:
// the check runs before any listener opens.
func TestHTTPBindRules(t *testing.T) {
	def, err := parseRun(nil)
	require.NoError(t, err)
	assert.True(t, isLoopbackAddr(def.http), "the default --http %q is loopback", def.http)
	assert.Empty(t, def.httpToken)
	assert.False(t, def.httpInsecure)

	for _, tc := range []struct {
		http  string
		extra []string
		env   map[string]string
		ok    bool
	}{
		{http: "127.0.0.1:9104", ok: true},
		{http: "127.9.8.7:9104", ok: true},
		{http: "[::1]:9104", ok: true},
		{http: "localhost:9104", ok: true},
		{http: "unix:/tmp/ql-http.sock", ok: true},
		{http: "", ok: true}, // disabled
		{http: ":9104"},
		{http: "0.0.0.0:9104"},
		{http: "[::]:9104"},
		{http: "192.0.2.10:9104"},
		{http: "[::ffff:192.0.2.10]:9104"},
		{http: "db1.example:9104"},
		{http: ":9104", extra: []string{"--http-token", "s3cr3t-token"}, ok: true},
		{http: "0.0.0.0:9104", extra: []string{"--http-insecure"}, ok: true},
		{http: "0.0.0.0:9104", env: map[string]string{"QUERYLENS_HTTP_TOKEN": "from-env"}, ok: true},
		{http: "0.0.0.0:9104", env: map[string]string{"QUERYLENS_HTTP_INSECURE": "true"}, ok: true},
		{http: "0.0.0.0:9104", extra: []string{"--api-token", "old-flag"}, ok: true},
		{http: "0.0.0.0:9104", env: map[string]string{"QUERYLENS_API_TOKEN": "old-env"}, ok: true},
	} {
		name := tc.http + " " + strings.Join(tc.extra, " ")
		for k := range tc.env {
			name += " " + k
		}
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{"--http", tc.http}, tc.extra...)
			_, err := parseRun(args)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			msg := err.Error()
			assert.Contains(t, msg, "flag -http:")
			assert.Contains(t, msg, "-http-token")
			assert.Contains(t, msg, "-http-insecure")
			assert.NotContains(t, msg, "\n")
			assert.Equal(t, 2, exitCode(err))
		})
	}
}

// TestHTTPTokenFlags: --api-token is an alias of --http-token (same token
// or an error naming it), and a token that cannot travel in a header is
// refused.
func TestHTTPTokenFlags(t *testing.T) {
	cfg, err := parseRun([]string{"--api-token", "alias-tok"})
	require.NoError(t, err)
	assert.Equal(t, "alias-tok", cfg.httpToken)

	cfg, err = parseRun([]string{"--api-token", "same", "--http-token", "same"})
	require.NoError(t, err)
	assert.Equal(t, "same", cfg.httpToken)

	_, err = parseRun([]string{"--api-token", "tok-AAA-1", "--http-token", "tok-BBB-2"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-api-token")
	assert.NotContains(t, err.Error(), "tok-AAA-1", "the tokens are not echoed")
	assert.NotContains(t, err.Error(), "tok-BBB-2")
	assert.Equal(t, 2, exitCode(err))

	for _, bad := range []string{"has space", "tab\there", "nl\nx", "ünïcode"} {
		_, err = parseRun([]string{"--http-token", bad})
		require.Error(t, err, "%q", bad)
		assert.Contains(t, err.Error(), "-http-token")
		assert.NotContains(t, err.Error(), bad, "the token is not echoed")
	}

	// Through run, the whole program: exit code 2, one line.
	err = run(context.Background(), []string{"--http", "0.0.0.0:1", "--listen", "127.0.0.1:1"}, io.Discard, io.Discard)
	require.Error(t, err)
	assert.Equal(t, 2, exitCode(err))
}

// TestIsLoopbackAddr covers the address forms --http takes.
func TestIsLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1":             true,
		"127.255.0.1:1":           true,
		"[::1]:1":                 true,
		"[::ffff:127.0.0.1]:1":    true,
		"localhost:1":             true,
		"LOCALHOST:1":             true,
		"unix:/run/ql.sock":       true,
		"/run/ql.sock":            true,
		":1":                      false,
		"0.0.0.0:1":               false,
		"[::]:1":                  false,
		"10.0.0.1:1":              false,
		"[fe80::1%eth0]:1":        false,
		"localhost.example.com:1": false,
		"127.0.0.1":               false, // no port: invalid, so not loopback
	} {
		assert.Equal(t, want, isLoopbackAddr(addr), addr)
	}
}

// httpDo sends one request to a querylens stats endpoint and returns
// the status and body.
func httpDo(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// startWithHTTP runs querylens in front of upstream with its stats
// endpoint on httpAddr and waits for /healthz (open in every mode).
func startWithHTTP(t *testing.T, upstream, httpAddr string, extra ...string) *instance {
	t.Helper()
	in := &instance{listen: freeAddr(t), http: httpAddr, logs: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := append([]string{"--listen", in.listen, "--upstream", upstream, "--http", httpAddr, "--log-level", "debug"}, extra...)
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
		select {
		case err := <-done:
			done <- err
			t.Fatalf("querylens stopped at start: %v\n%s", err, in.logs.String())
		default:
		}
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 10*time.Second, 10*time.Millisecond, "querylens did not come up")
	return in
}

// runSomeQueries sends n statements through the proxy at addr.
func runSomeQueries(t *testing.T, srv *testdb.Server, addr string, n int) {
	t.Helper()
	db, err := sql.Open("mysql", srv.DSN(addr, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	for i := range n {
		var v int
		require.NoError(t, db.QueryRow("SELECT ? + 0 AS exposure_probe", i).Scan(&v))
	}
}

// TestHTTPLoopbackWritesNeedToken: on loopback reads are open; reset is
// refused (403) without a configured token, refused (401) with a missing
// or wrong one, and works with the right one, through --http-token and
// through the deprecated --api-token alias (which logs a warning).
func TestHTTPLoopbackWritesNeedToken(t *testing.T) {
	srv := testdb.Require(t)
	const token = "loopback-tok-5d1e"

	open := startQuerylens(t, srv.Addr)
	runSomeQueries(t, srv, open.listen, 3)
	base := "http://" + open.http
	for _, path := range []string{"/api/v1/digests", "/api/v1/snapshot", "/metrics", "/healthz"} {
		code, _ := httpDo(t, "GET", base+path, "")
		assert.Equal(t, 200, code, path)
	}
	code, body := httpDo(t, "POST", base+"/api/v1/reset", "")
	assert.Equal(t, 403, code)
	assert.Contains(t, body, "--http-token")
	code, _ = httpDo(t, "POST", base+"/api/v1/reset", "anything")
	assert.Equal(t, 403, code, "no configured token: no bearer opens writes")
	assert.NotEmpty(t, getDigests(t, open.http, "q=exposure_probe"), "nothing was reset")
	require.NoError(t, open.stop())

	for _, flagName := range []string{"--http-token", "--api-token"} {
		t.Run(flagName, func(t *testing.T) {
			ql := startQuerylens(t, srv.Addr, flagName, token)
			runSomeQueries(t, srv, ql.listen, 3)
			base := "http://" + ql.http
			code, _ := httpDo(t, "GET", base+"/api/v1/digests", "")
			assert.Equal(t, 200, code, "reads stay open on loopback")
			code, _ = httpDo(t, "GET", base+"/metrics", "")
			assert.Equal(t, 200, code)
			for _, bad := range []string{"", "wrong-token", token + "x", token[:len(token)-1]} {
				code, _ := httpDo(t, "POST", base+"/api/v1/reset", bad)
				assert.Equal(t, 401, code, "bearer %q", bad)
			}
			require.NotEmpty(t, getDigests(t, ql.http, "q=exposure_probe"), "refused resets changed nothing")
			code, _ = httpDo(t, "POST", base+"/api/v1/reset", token)
			assert.Equal(t, 200, code)
			assert.Empty(t, getDigests(t, ql.http, "q=exposure_probe"), "reset cleared the aggregates")
			require.NoError(t, ql.stop())
			logs := ql.logs.String()
			assert.NotContains(t, logs, token, "the token is never logged")
			if flagName == "--api-token" {
				assert.Contains(t, logs, "deprecated")
			} else {
				assert.NotContains(t, logs, "deprecated")
			}
		})
	}
}

// loopbackName returns a host name other than "localhost" that /etc/hosts
// maps to loopback addresses only (Debian maps the machine's own name to
// 127.0.1.1, and ip6-localhost to ::1), so that a non-loopback --http can be
// exercised without listening beyond loopback and without a DNS query. ""
// when there is none.
func loopbackName(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/etc/hosts")
	if err != nil {
		return ""
	}
	ips := map[string][]net.IP{}
	var order []string
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ip := net.ParseIP(f[0])
		if ip == nil {
			continue
		}
		for _, name := range f[1:] {
			name = strings.ToLower(name)
			if _, seen := ips[name]; !seen {
				order = append(order, name)
			}
			ips[name] = append(ips[name], ip)
		}
	}
	for _, name := range order {
		if name == "localhost" || strings.HasSuffix(name, ".localhost") {
			continue
		}
		all := true
		for _, ip := range ips[name] {
			all = all && ip.IsLoopback()
		}
		if all {
			return name
		}
	}
	return ""
}

// TestHTTPNonLoopbackNeedsToken drives a real proxy whose --http is not a
// loopback address (a host name, bound through its loopback resolution):
// without a token or --http-insecure it does not start; with a token every
// request but /healthz and the dashboard page needs it, /metrics included;
// with --http-insecure
// reads are open and writes refused.
func TestHTTPNonLoopbackNeedsToken(t *testing.T) {
	srv := testdb.Require(t)
	name := loopbackName(t)
	if name == "" {
		t.Skip("no name in /etc/hosts maps to loopback only: cannot bind a non-loopback --http without leaving loopback")
	}
	const token = "wide-tok-9b27c0"
	_, port, _ := net.SplitHostPort(freeAddr(t))
	addr := net.JoinHostPort(name, port)

	var stderr bytes.Buffer
	err := run(context.Background(), []string{"--listen", freeAddr(t), "--upstream", srv.Addr, "--http", addr}, io.Discard, &stderr)
	require.Error(t, err, "non-loopback --http without a token must not start")
	assert.Equal(t, 2, exitCode(err))
	assert.Contains(t, err.Error(), "-http-token")

	ql := startWithHTTP(t, srv.Addr, addr, "--http-token", token)
	runSomeQueries(t, srv, ql.listen, 2)
	base := "http://" + addr
	for _, path := range []string{"/api/v1/digests", "/api/v1/digests/0000000000000000", "/api/v1/snapshot", "/metrics", "/nonexistent"} {
		for _, bad := range []string{"", "wrong", token + token} {
			code, body := httpDo(t, "GET", base+path, bad)
			assert.Equal(t, 401, code, "GET %s with bearer %q", path, bad)
			assert.NotContains(t, body, "exposure_probe", "GET %s leaked data", path)
		}
	}
	code, _ := httpDo(t, "GET", base+"/healthz", "")
	assert.Equal(t, 200, code, "/healthz stays open for probes")
	// The dashboard's page holds no data: a browser must be able to open
	// it, and it asks for the token before reading the API.
	code, body := httpDo(t, "GET", base+"/", "")
	assert.Equal(t, 200, code, "the dashboard page opens without a token")
	assert.NotContains(t, body, "exposure_probe")
	code, body = httpDo(t, "GET", base+"/api/v1/digests", token)
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "exposure_probe")
	code, body = httpDo(t, "GET", base+"/metrics", token)
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "querylens_connections_total")
	// Scheme names are case-insensitive (RFC 7235).
	req, _ := http.NewRequest("GET", base+"/api/v1/snapshot", nil)
	req.Header.Set("Authorization", "bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	code, _ = httpDo(t, "POST", base+"/api/v1/reset", "")
	assert.Equal(t, 401, code)
	code, _ = httpDo(t, "POST", base+"/api/v1/reset", token)
	assert.Equal(t, 200, code)
	require.NoError(t, ql.stop())
	assert.NotContains(t, ql.logs.String(), token)

	_, port, _ = net.SplitHostPort(freeAddr(t))
	addr = net.JoinHostPort(name, port)
	insecure := startWithHTTP(t, srv.Addr, addr, "--http-insecure")
	runSomeQueries(t, srv, insecure.listen, 2)
	code, body = httpDo(t, "GET", "http://"+addr+"/api/v1/digests", "")
	assert.Equal(t, 200, code, "--http-insecure: reads are open")
	assert.Contains(t, body, "exposure_probe")
	code, _ = httpDo(t, "POST", "http://"+addr+"/api/v1/reset", "")
	assert.Equal(t, 403, code, "--http-insecure: writes stay refused")
	require.NoError(t, insecure.stop())
	assert.Contains(t, insecure.logs.String(), "anyone who can reach it")
}
