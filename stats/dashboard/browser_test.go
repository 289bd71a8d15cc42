package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/stats/dashboard"
)

// fakeAPI answers the endpoints the page reads with fixed documents in the
// shapes of package stats and of the findings contract
// (testdata/findings.json), and records reset requests. The real endpoint
// is exercised by cmd/querylens's TestDashboard; this test covers what that
// one cannot yet or cheaply: every part of a finding, the kind filter, the
// metrics-based health tile and the token flow of the reset button.
type fakeAPI struct {
	mu       sync.Mutex
	resets   int
	badAuths int
	lists    int // GET /api/v1/digests requests
}

const fakeToken = "s3cret-token"

func (f *fakeAPI) digests() map[string]any {
	hist := func(count int, sum float64) map[string]any {
		return map[string]any{"schema": 3, "count": count, "sum": sum, "min": 0.0001, "max": 0.0009,
			"offset": -106, "counts": []int{count - 1, 0, 0, 1}}
	}
	lat := func(sum, mean float64) map[string]any {
		return map[string]any{"sum": sum, "min": 0.0001, "mean": mean, "p50": 0.0002, "p95": 0.0004, "p99": 0.0009, "p999": 0.0009, "max": 0.0009}
	}
	entry := func(digest, fp string, count int, sum float64) map[string]any {
		return map[string]any{
			"digest": digest, "schema": "app", "fingerprint": fp, "kind": "select", "tables": []string{"feeds"},
			"count": count, "commands": map[string]int{"query": count}, "errors": 0, "incomplete": 0,
			"rows_sent": 2 * count, "rows_affected": 0, "warnings": 0, "bytes_in": 40 * count, "bytes_out": 90 * count,
			"latency_seconds": lat(sum, sum/float64(count)), "ttfb_seconds": lat(sum/2, sum/float64(2*count)),
			"latency_histogram": hist(count, sum), "ttfb_histogram": hist(count, sum/2),
			"first_seen": "2026-11-22T08:59:00Z", "last_seen": "2026-11-22T08:59:01Z", "users": []string{"app"},
		}
	}
	return map[string]any{
		"version": 1, "taken": time.Now().UTC().Format(time.RFC3339Nano), "since": "2026-11-22T08:58:00Z",
		"digests": []any{
			entry("3f2a0c11aa22bb33", "select * from feeds where item_id = ?", 50, 0.0123),
			entry("9b1c0d44ee55ff66", "select id from items order by id limit ?", 1, 0.0004),
		},
		"total": 2, "tracked": 2, "max_digests": 5000,
		"overflow":       map[string]any{"digest": "overflow", "fingerprint": "<other statements>", "count": 0, "latency_histogram": map[string]any{"schema": 3, "count": 0, "sum": 0, "min": 0, "max": 0, "offset": 0, "counts": []int{}}},
		"dropped_events": 0, "events": 60,
		"commands":       map[string]int{"query": 51, "connect": 1},
		"command_errors": map[string]int{},
	}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	writeJSON := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/api/v1/digests":
		f.mu.Lock()
		f.lists++
		f.mu.Unlock()
		writeJSON(f.digests())
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/api/v1/digests/"):
		doc := f.digests()
		var keep []any
		for _, d := range doc["digests"].([]any) {
			if d.(map[string]any)["digest"] == strings.TrimPrefix(r.URL.Path, "/api/v1/digests/") {
				keep = append(keep, d)
			}
		}
		if keep == nil {
			w.WriteHeader(http.StatusNotFound)
			writeJSON(map[string]string{"error": "digest not found"})
			return
		}
		doc["digests"] = keep
		writeJSON(doc)
	case r.Method == "GET" && r.URL.Path == "/api/v1/findings":
		http.ServeFile(w, r, "testdata/findings.json")
	case r.Method == "GET" && r.URL.Path == "/metrics":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# HELP querylens_connections_open Client connections currently open.\n"+
			"# TYPE querylens_connections_open gauge\nquerylens_connections_open 3\n"+
			"querylens_connections_open_total_not_this 99\n"+
			"querylens_connections_total 17\nquerylens_decode_errors_total 1\nquerylens_decoder_panics_total 0\n")
	case r.Method == "POST" && r.URL.Path == "/api/v1/reset":
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+fakeToken {
			if r.Header.Get("Authorization") != "" {
				f.badAuths++
			}
			w.WriteHeader(http.StatusUnauthorized)
			writeJSON(map[string]string{"error": "reset needs the API token"})
			return
		}
		f.resets++
		writeJSON(map[string]bool{"reset": true})
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeAPI) listRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

func (f *fakeAPI) counts() (resets, badAuths int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resets, f.badAuths
}

func chromiumOrSkip(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const hint = "no chromium: browser test skipped; install it with sudo apt-get install chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal(hint)
	}
	t.Skip(hint)
	return ""
}

// TestPageInBrowser renders the findings contract's documents, the health
// tile from /metrics text, the reset flow and live refresh with pause in
// headless Chromium.
func TestPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chrome := chromiumOrSkip(t)
	api := &fakeAPI{}
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("GET /metrics", api)
	mux.Handle("/", dashboard.Handler(dashboard.WithRefresh(time.Hour)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	var mu sync.Mutex
	var pageErrors []string
	require.NoError(t, chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *cdpruntime.EventExceptionThrown:
			pageErrors = append(pageErrors, ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
				pageErrors = append(pageErrors, string(ev.Entry.Source)+": "+ev.Entry.Text)
			}
		}
	}))
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, steps...), what)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return s
	}

	do("open", chromedp.Navigate(srv.URL+"/"), chromedp.WaitReady(chromedp.CSS(`#findings-list[data-count="2"]`)))

	// Both findings, with every part the contract gives.
	n1 := text(`#findings-list article[data-kind="n_plus_one"]`)
	for _, want := range []string{
		"N+1: 50 executions of one SELECT driven by the rows of another",
		"select * from feeds where item_id = ?",      // the statement
		"select id from items order by id limit ?",   // what drives it
		"select * from feeds where item_id in (...)", // the suggested rewrite
		"50 executions", "1 unit of work", "12.3 ms spent", "could save 11.0 ms",
		"conn 12 burst", "from 127.0.0.1:5555",
	} {
		assert.Contains(t, n1, want)
	}
	hrefs, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#findings-list article[data-kind="n_plus_one"] a')].map(a => a.getAttribute('href'))`))
	require.NoError(t, err)
	assert.Equal(t, []string{"#/digest/3f2a0c11aa22bb33?schema=app", "#/digest/9b1c0d44ee55ff66?schema=app"}, hrefs)
	churn := text(`#findings-list article[data-kind="connection_churn"]`)
	assert.Contains(t, churn, "Connection churn: 40 connections opened for one statement each")
	nLinks, err := chromedp.Run(bctx, chromedp.Evaluate[int](
		`document.querySelectorAll('#findings-list article[data-kind="connection_churn"] a').length`))
	require.NoError(t, err)
	assert.Zero(t, nLinks, "a finding without a digest links nowhere")

	// The kind filter.
	do("N+1 only", chromedp.Click(chromedp.CSS(`.chip[data-group="n_plus_one"]`)),
		chromedp.WaitReady(chromedp.CSS(`#findings-list[data-count="1"]`)))
	assert.Contains(t, text(`#findings-list`), "N+1")
	do("churn only", chromedp.Click(chromedp.CSS(`.chip[data-group="churn"]`)),
		chromedp.WaitReady(chromedp.CSS(`#findings-list[data-count="1"] article[data-kind="connection_churn"]`)))
	do("transactions", chromedp.Click(chromedp.CSS(`.chip[data-group="tx"]`)),
		chromedp.WaitReady(chromedp.CSS(`#findings-list[data-count="0"]`)))
	assert.Contains(t, text(`#findings-empty`), "No findings of this kind")

	// The summary strip reads /metrics: the open connections gauge (not a
	// longer name that starts the same) and the decode errors.
	assert.Equal(t, "3", text(`#s-conns`))
	assert.Equal(t, "degraded", text(`#s-health`))
	assert.Contains(t, text(`#s-health-sub`), "1 undecodable connection")

	// The detail view of the N+1 statement lists the finding about it.
	do("detail", chromedp.Click(chromedp.CSS(`.chip[data-group="all"]`)),
		chromedp.Click(chromedp.CSS(`#findings-list article[data-kind="n_plus_one"] a[href*="3f2a0c11aa22bb33"]`)),
		chromedp.WaitReady(chromedp.CSS(`#detail-body[data-digest="3f2a0c11aa22bb33"] article[data-kind="n_plus_one"]`)))
	assert.Contains(t, text(`#detail-body`), "Executions50")

	// Reset: offered because the endpoint has a token (it answers 401); a
	// wrong token is refused and forgotten, the right one resets.
	do("reset dialog", chromedp.Navigate(srv.URL+"/#/"), chromedp.WaitVisible(chromedp.ID("reset")),
		chromedp.Click(chromedp.ID("reset")), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), "wrong"), chromedp.Click(chromedp.ID("reset-confirm")),
		chromedp.Poll[chromedp.Void](`document.getElementById('reset-error').textContent.includes('refused')`,
			chromedp.WithPollingTimeout(10*time.Second)))
	resets, bad := api.counts()
	assert.Equal(t, 0, resets)
	assert.Equal(t, 1, bad)
	do("right token", chromedp.SetValue(chromedp.ID("token"), fakeToken), chromedp.Click(chromedp.ID("reset-confirm")),
		chromedp.Poll[chromedp.Void](`!document.getElementById('reset-dialog').open`, chromedp.WithPollingTimeout(10*time.Second)))
	resets, _ = api.counts()
	assert.Equal(t, 1, resets)
	stored, err := chromedp.Run(bctx, chromedp.Evaluate[string](`sessionStorage.getItem('querylens-token')`))
	require.NoError(t, err)
	assert.Equal(t, fakeToken, stored, "the token is kept in the tab's sessionStorage")
	html, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	require.NoError(t, err)
	assert.NotContains(t, html, fakeToken, "the token ended up in the page")

	// Live refresh and pause: at a 1 s interval the page keeps asking;
	// paused, it stops; resumed, it asks again.
	do("1 s refresh", chromedp.Evaluate[chromedp.Void](
		`(() => { const s = document.getElementById('interval'); s.value = '1000'; s.dispatchEvent(new Event('change')); })()`))
	n := api.listRequests()
	require.Eventually(t, func() bool { return api.listRequests() >= n+2 }, 20*time.Second, 50*time.Millisecond, "no live refresh")
	do("pause", chromedp.Click(chromedp.ID("pause")))
	pressed, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('pause').getAttribute('aria-pressed')`))
	require.NoError(t, err)
	assert.Equal(t, "true", pressed)
	time.Sleep(500 * time.Millisecond) // let a request already under way land
	n = api.listRequests()
	time.Sleep(2500 * time.Millisecond)
	assert.Equal(t, n, api.listRequests(), "the page refreshed while paused")
	do("resume", chromedp.Click(chromedp.ID("pause")))
	require.Eventually(t, func() bool { return api.listRequests() > n }, 20*time.Second, 50*time.Millisecond, "no refresh after resuming")

	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, pageErrors, "errors in the page")
}
