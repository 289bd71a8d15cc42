package stats_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/querylens/querylens/stats"
)

// Statements of the API tests, with their latencies and errors.
const (
	apiSelect = "SELECT name FROM users WHERE id = 1"
	apiInsert = "INSERT INTO orders (user_id) VALUES (7)"
	apiUpdate = "UPDATE orders SET state = 'paid' WHERE id = 3"
	apiDelete = "DELETE FROM carts WHERE updated < '2026-01-01'"
)

// apiServer runs a handler over an engine fed with a fixed workload:
//
//	select shop  10 × 1ms   total 10ms
//	select crm    1 × 30ms  total 30ms
//	insert shop   3 × 2ms   total  6ms, 3 errors
//	update shop   2 × 4ms   total  8ms, rows_sent 0
//	delete shop   1 × 5ms   total  5ms, rows_sent 50 (pretend)
func apiServer(t *testing.T) (*httptest.Server, *stats.Engine) {
	t.Helper()
	e := startEngine(t, stats.Config{})
	at := time.Duration(0)
	add := func(sql, schema string, n int, latency time.Duration, errCode uint16, rows uint64) {
		for range n {
			ev := query(sql, schema, at, latency)
			ev.ErrorCode, ev.RowsSent = errCode, rows
			e.Observe(ev)
			at += time.Second
		}
	}
	add(apiSelect, "shop", 10, time.Millisecond, 0, 1)
	add(apiSelect, "crm", 1, 30*time.Millisecond, 0, 1)
	add(apiInsert, "shop", 3, 2*time.Millisecond, 1062, 0)
	add(apiUpdate, "shop", 2, 4*time.Millisecond, 0, 0)
	add(apiDelete, "shop", 1, 5*time.Millisecond, 0, 50)
	// No Flush here: the handler's own flush must make these visible.
	srv := httptest.NewServer(stats.NewHandler(e, zaptest.NewLogger(t)))
	t.Cleanup(srv.Close)
	return srv, e
}

func get(t *testing.T, srv *httptest.Server, path string) (int, []byte) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body json.RawMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	return resp.StatusCode, body
}

func getList(t *testing.T, srv *httptest.Server, path string) stats.DigestList {
	t.Helper()
	code, body := get(t, srv, path)
	require.Equal(t, http.StatusOK, code, "%s", body)
	var l stats.DigestList
	require.NoError(t, json.Unmarshal(body, &l))
	return l
}

// keys renders a list as digest text@schema, in order.
func keys(l stats.DigestList) []string {
	var out []string
	for _, d := range l.Digests {
		out = append(out, d.Fingerprint+"@"+d.Schema)
	}
	return out
}

func key(sql, schema string) string { return textOf(sql) + "@" + schema }

func TestAPIList(t *testing.T) {
	srv, _ := apiServer(t)
	for _, tc := range []struct {
		query string
		want  []string
		total int
	}{
		{"", []string{
			key(apiSelect, "crm"), key(apiSelect, "shop"), key(apiUpdate, "shop"),
			key(apiInsert, "shop"), key(apiDelete, "shop"),
		}, 5},
		{"sort=count&limit=2", []string{key(apiSelect, "shop"), key(apiInsert, "shop")}, 5},
		{"sort=errors&limit=1", []string{key(apiInsert, "shop")}, 5},
		{"sort=rows_sent&limit=1", []string{key(apiDelete, "shop")}, 5},
		{"sort=max&limit=2", []string{key(apiSelect, "crm"), key(apiDelete, "shop")}, 5},
		{"sort=mean&limit=2", []string{key(apiSelect, "crm"), key(apiDelete, "shop")}, 5},
		{"sort=p95&limit=1", []string{key(apiSelect, "crm")}, 5},
		{"sort=p99&limit=1", []string{key(apiSelect, "crm")}, 5},
		{"schema=crm", []string{key(apiSelect, "crm")}, 1},
		{"schema=nope", nil, 0},
		{"q=" + url.QueryEscape("ORDERS"), []string{key(apiUpdate, "shop"), key(apiInsert, "shop")}, 2},
		{"q=orders&schema=shop&sort=count&limit=1", []string{key(apiInsert, "shop")}, 2},
	} {
		t.Run(tc.query, func(t *testing.T) {
			l := getList(t, srv, "/api/v1/digests?"+tc.query)
			assert.Equal(t, tc.want, keys(l))
			assert.Equal(t, tc.total, l.Total)
			assert.Equal(t, stats.SnapshotVersion, l.Version)
			assert.Equal(t, 5, l.Tracked)
			assert.Equal(t, uint64(17), l.Events)
			assert.Equal(t, map[string]uint64{"query": 17}, l.Commands)
			require.NotNil(t, l.Overflow)
		})
	}
}

func TestAPIListFields(t *testing.T) {
	srv, _ := apiServer(t)
	code, body := get(t, srv, "/api/v1/digests?schema=shop&sort=count&limit=1")
	require.Equal(t, http.StatusOK, code)
	var doc struct {
		Digests []map[string]any `json:"digests"`
		Total   int              `json:"total"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	require.Len(t, doc.Digests, 1)
	d := doc.Digests[0]
	for _, field := range []string{
		"digest", "schema", "fingerprint", "kind", "tables", "count", "errors", "rows_sent",
		"rows_affected", "latency_seconds", "ttfb_seconds", "first_seen", "last_seen", "commands",
		"latency_histogram", "users", "bytes_in", "bytes_out", "warnings", "incomplete",
	} {
		assert.Contains(t, d, field)
	}
	assert.Equal(t, digestOf(apiSelect), d["digest"])
	assert.Len(t, d["digest"], 16)
	lat := d["latency_seconds"].(map[string]any)
	for _, f := range []string{"sum", "min", "mean", "p50", "p95", "p99", "p999", "max"} {
		assert.Contains(t, lat, f)
	}
	assert.InDelta(t, 0.010, lat["sum"], 1e-9)
	assert.InDelta(t, 0.001, lat["p50"], 0.001*stats.RelativeError)
	assert.NotContains(t, d, "sample_raw", "no raw sample without LogLiterals")
}

func TestAPIBadParams(t *testing.T) {
	srv, _ := apiServer(t)
	for _, tc := range []struct{ query, param string }{
		{"sort=slowest", "sort"},
		{"limit=0", "limit"},
		{"limit=10001", "limit"},
		{"limit=ten", "limit"},
		{"limit=-1", "limit"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			code, body := get(t, srv, "/api/v1/digests?"+tc.query)
			assert.Equal(t, http.StatusBadRequest, code)
			var e struct{ Error string }
			require.NoError(t, json.Unmarshal(body, &e))
			assert.Regexp(t, "^"+tc.param+": ", e.Error)
		})
	}
}

func TestAPIOneDigest(t *testing.T) {
	srv, _ := apiServer(t)
	sel := digestOf(apiSelect)

	l := getList(t, srv, "/api/v1/digests/"+sel)
	require.Len(t, l.Digests, 2, "one entry per schema")
	assert.Equal(t, []string{"crm", "shop"}, []string{l.Digests[0].Schema, l.Digests[1].Schema})
	assert.Equal(t, uint64(10), l.Digests[1].Count)

	l = getList(t, srv, "/api/v1/digests/"+sel+"?schema=shop")
	require.Len(t, l.Digests, 1)
	assert.Equal(t, "shop", l.Digests[0].Schema)

	l = getList(t, srv, "/api/v1/digests/overflow")
	require.Len(t, l.Digests, 1)
	assert.Equal(t, stats.OverflowDigest, l.Digests[0].Digest)

	for path, want := range map[string]int{
		"/api/v1/digests/" + sel + "?schema=nope": http.StatusNotFound,
		"/api/v1/digests/0000000000000000":        http.StatusNotFound,
		"/api/v1/digests/xyz":                     http.StatusBadRequest,
		"/api/v1/digests/0123":                    http.StatusBadRequest,
	} {
		code, body := get(t, srv, path)
		assert.Equal(t, want, code, path)
		var e struct{ Error string }
		require.NoError(t, json.Unmarshal(body, &e))
		assert.NotEmpty(t, e.Error)
		if want == http.StatusBadRequest {
			assert.Regexp(t, "^digest: ", e.Error)
		}
	}
}

func TestAPIOverflowVisible(t *testing.T) {
	e := startEngine(t, stats.Config{MaxDigests: 1})
	e.Observe(query("SELECT a FROM t", "", 0, time.Millisecond))
	e.Observe(query("SELECT b FROM t", "", 0, time.Millisecond))
	srv := httptest.NewServer(stats.NewHandler(e, nil))
	defer srv.Close()
	l := getList(t, srv, "/api/v1/digests")
	assert.Len(t, l.Digests, 1)
	require.NotNil(t, l.Overflow)
	assert.Equal(t, uint64(1), l.Overflow.Count)
	assert.Equal(t, 1, l.MaxDigests)
}

func TestAPIMethodNotAllowed(t *testing.T) {
	srv, _ := apiServer(t)
	resp, err := srv.Client().Post(srv.URL+"/api/v1/digests", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestAPISnapshot(t *testing.T) {
	srv, _ := apiServer(t)
	code, body := get(t, srv, "/api/v1/snapshot")
	require.Equal(t, http.StatusOK, code)
	var s stats.Snapshot
	require.NoError(t, json.Unmarshal(body, &s))
	assert.Equal(t, stats.SnapshotVersion, s.Version)
	require.NotEmpty(t, s.Digests)
	var total uint64
	for _, d := range s.Digests {
		total += d.Count
		assert.Equal(t, d.Count, d.LatencyHistogram.Count(), "histograms travel with the snapshot")
	}
	list := getList(t, srv, "/api/v1/digests")
	var listTotal uint64
	for _, d := range list.Digests {
		listTotal += d.Count
	}
	assert.Equal(t, listTotal, total)
}

func TestAPIReset(t *testing.T) {
	_, e := apiServer(t)
	open := httptest.NewServer(stats.NewHandler(e, zaptest.NewLogger(t)))
	defer open.Close()
	guarded := httptest.NewServer(stats.NewHandler(e, zaptest.NewLogger(t), stats.WithResetToken("s3cret")))
	defer guarded.Close()

	post := func(srv *httptest.Server, auth string) int {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/reset", nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusForbidden, post(open, "Bearer s3cret"), "no token configured: reset disabled")
	assert.Equal(t, http.StatusUnauthorized, post(guarded, ""))
	assert.Equal(t, http.StatusUnauthorized, post(guarded, "Bearer wrong"))
	require.NotEmpty(t, getList(t, guarded, "/api/v1/digests").Digests, "still there after refused resets")

	assert.Equal(t, http.StatusOK, post(guarded, "Bearer s3cret"))
	assert.Empty(t, getList(t, guarded, "/api/v1/digests").Digests)
}
