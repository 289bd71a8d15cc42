//go:build !nodemo

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/demo"
)

type apiFinding struct {
	Kind              string `json:"kind"`
	Fingerprint       string `json:"fingerprint"`
	SourceFingerprint string `json:"source_fingerprint"`
	Executions        uint64 `json:"executions"`
	Units             uint64 `json:"units"`
}

// fetchFindings reads GET /api/v1/findings. It does not fail the test:
// it runs inside require.Eventually's conditions, off the test goroutine.
func fetchFindings(httpAddr string) ([]apiFinding, error) {
	resp, err := http.Get("http://" + httpAddr + "/api/v1/findings")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	var body struct {
		Findings []apiFinding `json:"findings"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	return body.Findings, nil
}

// The statements of the demo's pages, as querylens fingerprints them.
const (
	demoLoopStmt   = "select count(*) from comments where post_id = ?"
	demoSourceStmt = "select id, title, author_id, created_at from posts order by created_at desc, id desc limit ? offset ?"
)

// TestDemo runs `querylens demo` in-process, with no MySQL server on the
// machine needed: the dashboard is served, the N+1 loop of the built-in
// workload is found within a minute, the workload's statements are listed
// with their counts, nothing failed to decode, the other pages' findings
// follow, and the report printed at exit names the loop.
func TestDemo(t *testing.T) {
	listen, httpAddr := freeAddr(t), freeAddr(t)
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"demo", "--listen", listen, "--http", httpAddr}, stdout, stderr) }()
	defer func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	}()

	var loop *apiFinding
	var stopped bool
	var runErr error
	require.Eventually(t, func() bool {
		select {
		case runErr = <-done:
			stopped = true
			return true
		default:
		}
		findings, err := fetchFindings(httpAddr)
		if err != nil {
			return false
		}
		for _, f := range findings {
			if f.Kind == "n_plus_one" {
				loop = &f
				return true
			}
		}
		return false
	}, 60*time.Second, 250*time.Millisecond, "no n_plus_one finding within 60s")
	require.False(t, stopped, "the demo stopped early: %v", runErr)

	assert.Equal(t, demoLoopStmt, loop.Fingerprint)
	assert.Equal(t, demoSourceStmt, loop.SourceFingerprint)
	require.NotZero(t, loop.Units)
	// Each home page runs one query per listed post, right after the list.
	assert.Equal(t, loop.Units*demo.DefaultPageSize, loop.Executions, "executions: %d units of %d", loop.Units, demo.DefaultPageSize)

	out := stdout.String()
	assert.Contains(t, out, "http://"+httpAddr+"/", "the dashboard's URL is printed")
	assert.Contains(t, out, listen, "the proxy's address is printed")

	resp, err := http.Get("http://" + httpAddr + "/")
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	assert.Contains(t, string(page), "<title>querylens</title>")

	// The home page ran (the finding says so), and so did the pages before
	// the first sweep saw it: every statement is listed with its count.
	counts := map[string]uint64{}
	for _, d := range getDigests(t, httpAddr, "") {
		assert.Equal(t, demo.Database, d.Schema, d.Fingerprint)
		counts[d.Fingerprint] += d.Count
	}
	for _, fp := range []string{demoLoopStmt, demoSourceStmt} {
		assert.NotZero(t, counts[fp], "%q in /api/v1/digests", fp)
	}
	assert.Equal(t, counts[demoLoopStmt], counts[demoSourceStmt]*demo.DefaultPageSize,
		"the loop runs once per listed post")

	resp, err = http.Get("http://" + httpAddr + "/metrics")
	require.NoError(t, err)
	metrics, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Contains(t, string(metrics), "\nquerylens_decode_errors_total 0\n", "go-mysql-server's wire output decodes")

	// The other pages' patterns follow within a few rounds: the repeated
	// read and the per-query prepared statements of the post page, the
	// health check's connection churn, and the two errors on purpose.
	want := []string{"n_plus_one", "repeated_read", "prepare_per_execute", "connection_churn"}
	var seen map[string]bool
	require.Eventually(t, func() bool {
		findings, err := fetchFindings(httpAddr)
		if err != nil {
			return false
		}
		seen = map[string]bool{}
		for _, f := range findings {
			seen[f.Kind] = true
		}
		for _, k := range want {
			if !seen[k] {
				return false
			}
		}
		return true
	}, 90*time.Second, 500*time.Millisecond, "findings: want %v", want)
	errs := map[string]uint64{}
	for _, d := range getDigests(t, httpAddr, "sort=errors") {
		errs[d.Fingerprint] += d.Errors
	}
	assert.NotZero(t, errs["select id, title from post where title like ? order by id desc limit ?"], "the search on a missing table")
	assert.NotZero(t, errs["insert into users(id, name, email, created_at) values (...)"], "the sign-up with a taken id")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		require.FailNow(t, "the demo did not stop")
	}
	out = stdout.String()
	report := out[strings.Index(out, "# querylens report"):]
	assert.Contains(t, report, "# Findings")
	assert.Contains(t, report, "kind:          n_plus_one")
	assert.Contains(t, report, "statement:     "+demoLoopStmt)
	assert.Contains(t, report, "driven by:     "+demoSourceStmt)
	assert.Contains(t, out, " 0 pages failed")
	assert.NotContains(t, stderr.String(), "page failed")
}

func TestDemoFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"upstream":      {[]string{"--upstream", "127.0.0.1:3306"}, "flag -upstream is not used by the demo"},
		"no http":       {[]string{"--http", ""}, "flag -http"},
		"duration":      {[]string{"--duration", "-1s"}, "flag -duration"},
		"bad duration":  {[]string{"--duration", "soon"}, "-duration"},
		"argument":      {[]string{"extra"}, `unexpected argument "extra"`},
		"bad listen":    {[]string{"--listen", "nowhere"}, "flag -listen"},
		"bad log level": {[]string{"--log-level", "loud"}, "flag -log-level"},
	} {
		t.Run(name, func(t *testing.T) {
			err := run(context.Background(), append([]string{"demo"}, tc.args...), io.Discard, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, 2, exitCode(err))
		})
	}

	t.Run("help", func(t *testing.T) {
		var out strings.Builder
		require.NoError(t, run(context.Background(), []string{"demo", "-h"}, &out, io.Discard))
		assert.Contains(t, out.String(), "--duration")
		assert.Contains(t, out.String(), "--listen")
		assert.NotContains(t, out.String(), "--upstream\t")
	})
}

// TestDemoPortInUse: a taken --listen port stops the demo with serve's
// error, naming the flag, instead of a workload talking to someone else.
func TestDemoPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	err = run(context.Background(), []string{"demo", "--listen", l.Addr().String(), "--http", freeAddr(t)}, io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "flag -listen")
}
