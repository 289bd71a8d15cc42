package report_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/report"
	"github.com/querylens/querylens/stats"
)

// TestFromProxy fetches the snapshot from the API of a real engine, as
// from a running proxy, and gets the report of the same numbers read from
// a file.
func TestFromProxy(t *testing.T) {
	e := newEngine(t, workload(), engineOpts{maxDigests: workloadKeys})
	srv := httptest.NewServer(stats.NewHandler(e, nil))
	defer srv.Close()
	file := writeFile(t, "s.json", snapshotJSON(t, e))

	for _, from := range []string{srv.URL, srv.URL + "/", srv.URL + "/api/v1/snapshot", strings.TrimPrefix(srv.URL, "http://")} {
		t.Run(from, func(t *testing.T) {
			got, stderr, err := runReport(t, nil, "--from", from)
			require.NoError(t, err)
			assert.Empty(t, stderr)
			assert.Contains(t, got, "# Sources          "+srv.URL+"/api/v1/snapshot\n")
			want, _, err := runReport(t, nil, file)
			require.NoError(t, err)
			assert.Equal(t, withoutSources(want), withoutSources(got))
		})
	}

	// Two proxies, comma-separated and repeated: the three sources merge.
	got, _, err := runReport(t, nil, "--format", "json", "--from", srv.URL+","+srv.URL, "--from", srv.URL)
	require.NoError(t, err)
	assert.Contains(t, got, fmt.Sprintf(`"events": %d,`, 3*e.Snapshot().Events))
}

func TestFromErrors(t *testing.T) {
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + l.Addr().String()
	require.NoError(t, l.Close())

	hang := make(chan struct{})
	defer close(hang)
	mux := http.NewServeMux()
	mux.HandleFunc("/missing/api/v1/snapshot", http.NotFound)
	mux.HandleFunc("/forbidden/api/v1/snapshot", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintln(w, `{"error": "no token"}`)
	})
	mux.HandleFunc("/v2/api/v1/snapshot", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"version": 2, "digests": []}`)
	})
	mux.HandleFunc("/html/api/v1/snapshot", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `<html>hello</html>`)
	})
	mux.HandleFunc("/slow/api/v1/snapshot", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unreachable", []string{"--from", closed}, "fetch " + closed + "/api/v1/snapshot: dial tcp"},
		{"404", []string{"--from", srv.URL + "/missing"}, "fetch " + srv.URL + "/missing/api/v1/snapshot: 404 Not Found: 404 page not found"},
		{"403", []string{"--from", srv.URL + "/forbidden"}, "/forbidden/api/v1/snapshot: 403 Forbidden: no token"},
		{"version", []string{"--from", srv.URL + "/v2"}, "/v2/api/v1/snapshot: snapshot version 2; this querylens reads version 1"},
		{"not JSON", []string{"--from", srv.URL + "/html"}, "/html/api/v1/snapshot: not a querylens snapshot: invalid character '<'"},
		{"timeout", []string{"--timeout", "100ms", "--from", srv.URL + "/slow"}, "/slow/api/v1/snapshot: context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runReport(t, nil, tc.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
			var u *report.UsageError
			assert.False(t, errors.As(err, &u), "a source failure is not a usage error")
		})
	}

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := report.Run(ctx, []string{"--from", srv.URL}, &strings.Builder{}, &strings.Builder{})
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestFileErrors(t *testing.T) {
	good := string(snapshotJSON(t, newEngine(t, nil, engineOpts{})))
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty", "", "empty: no snapshot"},
		{"not JSON", "hello", "not a querylens snapshot: invalid character 'h'"},
		{"truncated", good[:len(good)/2], "not a querylens snapshot: unexpected EOF"},
		{"trailing data", good + "{}", "more data after the JSON document"},
		{"no version", `{"digests": []}`, "not a querylens snapshot: no version"},
		{"version", `{"version": 7}`, "snapshot version 7; this querylens reads version 1"},
		{"digest list", `{"version": 1, "digests": [], "total": 0, "tracked": 0}`, "a digest list (GET /api/v1/digests), not a snapshot"},
		{"null entry", `{"version": 1, "digests": [null]}`, "digests[0] is null"},
		{"bad histogram", `{"version": 1, "digests": [{"digest": "0123456789abcdef", "latency_histogram": {"schema": 3, "count": 2, "counts": [1]}}]}`,
			"histogram: buckets add up to 1, count is 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "snap.json", []byte(tc.content))
			_, _, err := runReport(t, nil, path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "snapshot file "+path+": ")
			assert.Contains(t, err.Error(), tc.want)

			_, _, err = runReport(t, []byte(tc.content), "-")
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "snapshot from stdin: "), err.Error())
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	_, _, err := runReport(t, nil, "/nonexistent/snap.json")
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "/nonexistent/snap.json")
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no source", nil, "no snapshot to report on"},
		{"unknown flag", []string{"--bogus", "x.json"}, "flag provided but not defined: -bogus"},
		{"format", []string{"--format", "xml", "x.json"}, `invalid value "xml" for flag -format: want text, json or markdown`},
		{"sort", []string{"--sort", "latency", "x.json"}, `invalid value "latency" for flag -sort: want one of total_time, count, mean, p95, p99, errors, rows_sent, max`},
		{"top zero", []string{"--top", "0", "x.json"}, `invalid value "0" for flag -top: want a whole number of at least 1`},
		{"top word", []string{"--top", "ten", "x.json"}, `invalid value "ten" for flag -top`},
		{"top negative", []string{"--top=-3", "x.json"}, `invalid value "-3" for flag -top`},
		{"timeout", []string{"--timeout", "0s", "x.json"}, `invalid value "0s" for flag -timeout: want a positive duration`},
		{"from scheme", []string{"--from", "ftp://db1:9104"}, `invalid value "ftp://db1:9104" for flag -from: "ftp://db1:9104": scheme "ftp", want http or https`},
		{"from no host", []string{"--from", "http://"}, `for flag -from: "http://" has no host`},
		{"missing value", []string{"x.json", "--top"}, "flag needs an argument: -top"},
		{"stdin twice", []string{"-", "-"}, "stdin (-) can be read only once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runReport(t, nil, tc.args...)
			require.Error(t, err)
			var u *report.UsageError
			require.ErrorAs(t, err, &u)
			assert.Contains(t, u.Msg, tc.want)
			assert.NotContains(t, err.Error(), "\n")
			assert.Empty(t, stdout)
			assert.Empty(t, stderr)
		})
	}
}

func TestSnapshotURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:9104":                 "http://127.0.0.1:9104/api/v1/snapshot",
		"127.0.0.1:9104":                        "http://127.0.0.1:9104/api/v1/snapshot",
		"https://gw.example/querylens/":         "https://gw.example/querylens/api/v1/snapshot",
		"http://[::1]:9104/api/v1/snapshot":     "http://[::1]:9104/api/v1/snapshot",
		"http://db1:9104/api/v1/snapshot?x=1#f": "http://db1:9104/api/v1/snapshot?x=1",
	} {
		got, err := report.SnapshotURL(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
}

func TestFetchSendsToken(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		if got != "Bearer s3cret" {
			http.Error(w, `{"error":"token required"}`, http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"version":1,"digests":[],"overflow":null}`))
	}))
	defer srv.Close()
	_, err := report.Fetch(context.Background(), srv.Client(), srv.URL, "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
	s, err := report.Fetch(context.Background(), srv.Client(), srv.URL, "s3cret")
	require.NoError(t, err)
	assert.Equal(t, 1, s.Version)
	assert.Equal(t, "Bearer s3cret", got)
}
