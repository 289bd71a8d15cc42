package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/fingerprint"
	"github.com/querylens/querylens/internal/testdb"
)

// screenshotEnv names the variable that makes TestDashboard also write its
// screenshot to a file of the repository, for the README:
//
//	QUERYLENS_SCREENSHOT=docs/dashboard.png go test ./cmd/querylens -run TestDashboard
//
// A relative path is taken from the module root.
const screenshotEnv = "QUERYLENS_SCREENSHOT"

// requireChromium returns Debian's chromium binary, or skips the test
// (fails it under CI=true) when there is none.
func requireChromium(t *testing.T) string {
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

// dashRow is one row of the top-fingerprints table as the page shows it.
type dashRow struct {
	Digest      string `json:"digest"`
	Schema      string `json:"schema"`
	Fingerprint string `json:"fingerprint"`
	Count       string `json:"count"`
	Errors      string `json:"errors"`
}

// readRowsJS reads the table's body rows.
const readRowsJS = `[...document.querySelectorAll('#digests tbody tr')].map(r => ({
	digest: r.dataset.digest, schema: r.dataset.schema,
	fingerprint: r.querySelector('[data-col=fingerprint] a').textContent,
	count: r.querySelector('[data-col=count]').textContent,
	errors: r.querySelector('[data-col=errors]').textContent,
}))`

// shownCount parses a count cell ("1,234").
func shownCount(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(strings.ReplaceAll(s, ",", ""), 10, 64)
	require.NoError(t, err, "count cell %q", s)
	return n
}

// TestDashboard runs a feed-reader workload with an N+1 loop through the
// real command and checks the dashboard in headless Chromium: the
// top-fingerprints table shows the workload's statements with the counts
// the workload ran (and the API reports), sorting reorders the rows, the
// search box and the schema filter filter them, the detail view opens, the
// page raises no script error or CSP violation, it fits a phone's width, it
// has a dark theme, and the findings panel shows the N+1.
func TestDashboard(t *testing.T) {
	chrome := requireChromium(t)
	srv := testdb.Require(t)
	root, err := srv.Root()
	require.NoError(t, err)
	defer root.Close()

	const schema = "dash_feeds"
	_, err = root.Exec("DROP DATABASE IF EXISTS " + schema + "; CREATE DATABASE " + schema)
	require.NoError(t, err)
	_, err = root.Exec(`CREATE TABLE ` + schema + `.items (id INT PRIMARY KEY, title VARCHAR(60), seen INT NOT NULL DEFAULT 0);
		CREATE TABLE ` + schema + `.feeds (id INT AUTO_INCREMENT PRIMARY KEY, item_id INT NOT NULL, url VARCHAR(100), KEY (item_id))`)
	require.NoError(t, err)
	for i := 1; i <= 60; i++ {
		_, err = root.Exec("INSERT INTO "+schema+".items (id, title) VALUES (?, ?)", i, fmt.Sprintf("item %d", i))
		require.NoError(t, err)
		for j := range 2 {
			_, err = root.Exec("INSERT INTO "+schema+".feeds (item_id, url) VALUES (?, ?)", i, fmt.Sprintf("/feed/%d/%d", i, j))
			require.NoError(t, err)
		}
	}

	ql := startQuerylens(t, srv.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The workload, with what it ran per (statement, schema).
	type stmtKey struct{ sql, schema string }
	ran := map[stmtKey]uint64{}
	failed := map[stmtKey]uint64{}
	db, err := sql.Open("mysql", srv.DSN(ql.listen, schema))
	require.NoError(t, err)
	defer db.Close()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	query := func(c *sql.Conn, schema, q string, args ...any) int {
		t.Helper()
		rows, err := c.QueryContext(ctx, q, args...)
		require.NoError(t, err, q)
		n := 0
		for rows.Next() {
			n++
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		ran[stmtKey{q, schema}]++
		return n
	}

	// The feed reader: list 50 items, then one lookup per item, back to
	// back on one connection, no transaction.
	const listItems = "SELECT id FROM items ORDER BY id LIMIT 50"
	const feedsOfItem = "SELECT id, url FROM feeds WHERE item_id = ?"
	rows, err := conn.QueryContext(ctx, listItems)
	require.NoError(t, err)
	var ids []int
	for rows.Next() {
		var id int
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Close())
	ran[stmtKey{listItems, schema}]++
	require.Len(t, ids, 50)
	for _, id := range ids {
		require.Equal(t, 2, query(conn, schema, feedsOfItem, id))
	}

	// A few other statements with known counts.
	const countItems = "SELECT COUNT(*) FROM items"
	const markSeen = "UPDATE items SET seen = seen + 1 WHERE id = ?"
	const missing = "SELECT title FROM missing_table WHERE id = ?"
	for range 3 {
		query(conn, schema, countItems)
	}
	for i := range 7 {
		_, err := conn.ExecContext(ctx, markSeen, i+1)
		require.NoError(t, err)
		ran[stmtKey{markSeen, schema}]++
	}
	for i := range 2 {
		_, err := conn.ExecContext(ctx, missing, i)
		require.Error(t, err)
		ran[stmtKey{missing, schema}]++
		failed[stmtKey{missing, schema}]++
	}
	require.NoError(t, conn.Close())
	// The same text in another default schema is another entry.
	other, err := sql.Open("mysql", srv.DSN(ql.listen, testdb.Schema))
	require.NoError(t, err)
	defer other.Close()
	oconn, err := other.Conn(ctx)
	require.NoError(t, err)
	const crossCount = "SELECT COUNT(*) FROM " + schema + ".feeds"
	for range 4 {
		query(oconn, testdb.Schema, crossCount)
	}
	require.NoError(t, oconn.Close())

	// What the workload ran, by (digest, schema), checked against the API.
	fp := fingerprint.New(fingerprint.DefaultConfig())
	type entryKey struct{ digest, schema string }
	want := map[entryKey]uint64{}
	wantErrs := map[entryKey]uint64{}
	digestOf := func(q string) string { return fp.Fingerprint(q).Digest.String() }
	for k, n := range ran {
		want[entryKey{digestOf(k.sql), k.schema}] += n
		wantErrs[entryKey{digestOf(k.sql), k.schema}] += failed[k]
	}
	api := map[entryKey]apiDigest{}
	for _, d := range getDigests(t, ql.http, "") {
		api[entryKey{d.Digest, d.Schema}] = d
	}
	for k, n := range want {
		require.Contains(t, api, k, "API lacks %v", k)
		require.Equal(t, n, api[k].Count, "API count of %q", api[k].Fingerprint)
		require.Equal(t, wantErrs[k], api[k].Errors, "API errors of %q", api[k].Fingerprint)
	}
	require.Len(t, api, len(want), "API has entries the workload did not run: %v", api)
	feedsKey := entryKey{digestOf(feedsOfItem), schema}
	missingKey := entryKey{digestOf(missing), schema}

	// The browser.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	// Every script exception and every console or security error except
	// network ones (the findings endpoint may answer 404; the reset probe
	// answers 403) fails the test: a CSP violation shows up here.
	var mu sync.Mutex
	var pageErrors []string
	require.NoError(t, chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *cdpruntime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			pageErrors = append(pageErrors, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
				pageErrors = append(pageErrors, fmt.Sprintf("%s error: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	}))
	noPageErrors := func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		assert.Empty(t, pageErrors, "errors in the page")
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, steps...), what)
	}
	readRows := func() []dashRow {
		t.Helper()
		rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]dashRow](readRowsJS))
		require.NoError(t, err)
		return rows
	}
	// waitTable waits until the table shows what the page's state asks for.
	waitTable := func(sortKey, q, schemaFilter string) {
		t.Helper()
		sel := fmt.Sprintf(`#digests[data-sort=%q][data-q=%q][data-schema=%q]`, sortKey, q, schemaFilter)
		run("table "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	}
	shots := map[string][]byte{}
	shoot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // the whole page, as PNG
		require.NoError(t, err)
		shots[name] = buf
	}
	defer func() { saveScreenshots(t, shots) }()

	base := "http://" + ql.http + "/"
	run("open the dashboard",
		chromedp.Navigate(base),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#digests tbody tr[data-digest=%q]`, feedsKey.digest))),
	)
	waitTable("total_time", "", "*")

	// Every statement of the workload is listed with its count.
	shown := map[entryKey]dashRow{}
	for _, r := range readRows() {
		shown[entryKey{r.Digest, r.Schema}] = r
	}
	assert.Len(t, shown, len(want), "rows: %v", shown)
	for k, n := range want {
		r, ok := shown[k]
		if !assert.True(t, ok, "the table lacks %q in %q", api[k].Fingerprint, k.schema) {
			continue
		}
		assert.Equal(t, n, shownCount(t, r.Count), "count shown for %q", r.Fingerprint)
		assert.Equal(t, wantErrs[k], shownCount(t, r.Errors), "errors shown for %q", r.Fingerprint)
		assert.Equal(t, api[k].Fingerprint, r.Fingerprint)
	}
	assert.Equal(t, uint64(50), shownCount(t, shown[feedsKey].Count), "the N+1 lookup ran once per listed item")

	// Reset is offered only when a token is configured; none is here.
	hidden, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.getElementById('reset').hidden`))
	require.NoError(t, err)
	assert.True(t, hidden, "reset button shown without a token")

	// Sorting by a column reorders the rows: by count, the N+1 lookup
	// leads; by errors, the failing statement does. Each order is the API's.
	order := func(rows []dashRow) []string {
		var o []string
		for _, r := range rows {
			o = append(o, r.Digest+"/"+r.Schema)
		}
		return o
	}
	apiOrder := func(sortKey string) []string {
		var o []string
		for _, d := range getDigests(t, ql.http, "sort="+sortKey) {
			o = append(o, d.Digest+"/"+d.Schema)
		}
		return o
	}
	run("sort by count", chromedp.Click(chromedp.CSS(`#digests th[data-sort="count"] button`)))
	waitTable("count", "", "*")
	byCount := readRows()
	require.NotEmpty(t, byCount)
	assert.Equal(t, feedsKey.digest, byCount[0].Digest, "first row by count")
	for i := 1; i < len(byCount); i++ {
		assert.GreaterOrEqual(t, shownCount(t, byCount[i-1].Count), shownCount(t, byCount[i].Count), "rows not in count order")
	}
	assert.Equal(t, apiOrder("count"), order(byCount))
	ariaSort, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#digests th[data-sort="count"]').getAttribute('aria-sort')`))
	require.NoError(t, err)
	assert.Equal(t, "descending", ariaSort)

	run("sort by errors", chromedp.Click(chromedp.CSS(`#digests th[data-sort="errors"] button`)))
	waitTable("errors", "", "*")
	byErrors := readRows()
	require.NotEmpty(t, byErrors)
	assert.Equal(t, missingKey.digest, byErrors[0].Digest, "first row by errors")
	assert.Equal(t, apiOrder("errors"), order(byErrors))
	assert.NotEqual(t, order(byCount), order(byErrors), "sorting did not reorder the rows")

	// Search: typing filters the rows to the fingerprints containing the
	// text.
	run("search", chromedp.SendKeys(chromedp.ID("q"), "feeds"))
	waitTable("errors", "feeds", "*")
	var found []string
	for _, r := range readRows() {
		assert.Contains(t, strings.ToLower(r.Fingerprint), "feeds")
		found = append(found, r.Digest+"/"+r.Schema)
	}
	assert.ElementsMatch(t, []string{
		feedsKey.digest + "/" + schema,
		digestOf(crossCount) + "/" + testdb.Schema,
	}, found, "search results")

	// The schema filter keeps one schema's statements.
	run("filter by schema", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(() => { const s = document.getElementById('schema'); s.value = %q; s.dispatchEvent(new Event('change')); })()`, schema)))
	waitTable("errors", "feeds", schema)
	filtered := readRows()
	require.Len(t, filtered, 1)
	assert.Equal(t, feedsKey.digest, filtered[0].Digest)
	assert.Equal(t, schema, filtered[0].Schema)

	// Back to the full list, by total time.
	run("clear filters", chromedp.Evaluate[chromedp.Void](
		`(() => { const q = document.getElementById('q'); q.value = ''; q.dispatchEvent(new Event('input'));
		  const s = document.getElementById('schema'); s.value = '*'; s.dispatchEvent(new Event('change')); })()`),
		chromedp.Click(chromedp.CSS(`#digests th[data-sort="total_time"] button`)))
	waitTable("total_time", "", "*")
	assert.Len(t, readRows(), len(want))

	// The findings panel: wait for the N+1 (or for the endpoint's verdict),
	// take the screenshots, then judge.
	findingJS := fmt.Sprintf(`[...document.querySelectorAll('#findings-list article[data-kind="n_plus_one"]')]
		.some(a => a.textContent.includes(%q))`, api[feedsKey].Fingerprint)
	_, findingErr := chromedp.Run(bctx, chromedp.Poll[bool](findingJS,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
	shoot("dashboard")
	findingsText, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.CSS(".findings")))
	require.NoError(t, err)

	// The detail view of the N+1 statement: its count, the chart, the
	// first-byte table.
	run("open the detail view",
		chromedp.Navigate(base+"#/digest/"+feedsKey.digest+"?schema="+schema),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#detail-body[data-digest=%q] figure.chart svg rect`, feedsKey.digest))),
	)
	overviewGone, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`getComputedStyle(document.getElementById('overview')).display === 'none'`))
	require.NoError(t, err)
	assert.True(t, overviewGone, "the overview is still shown beside the detail view")
	detail, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.ID("detail-body")))
	require.NoError(t, err)
	assert.Contains(t, detail, api[feedsKey].Fingerprint)
	assert.Contains(t, detail, "Executions50")
	assert.Contains(t, detail, "Time to first byte against total time")
	for _, junk := range []string{"undefined", "null", "NaN", "[object"} {
		assert.NotContains(t, detail, junk, "the detail view shows a JavaScript artefact")
	}
	shoot("detail")

	// Dark theme: the page follows the system's preference.
	light, err := chromedp.Run(bctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	require.NoError(t, err)
	_, err = chromedp.Call(bctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	})
	require.NoError(t, err)
	run("overview", chromedp.Navigate(base+"#/"), chromedp.WaitVisible(chromedp.CSS(`#digests tbody tr`)))
	dark, err := chromedp.Run(bctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	require.NoError(t, err)
	assert.NotEqual(t, light, dark, "no dark theme")
	shoot("dashboard-dark")

	// A phone: the page itself does not scroll sideways (the table does,
	// inside its frame).
	run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`#digests tbody tr`)))
	overflow, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
	require.NoError(t, err)
	assert.LessOrEqual(t, overflow, 0, "the page is wider than a phone's screen")
	shoot("dashboard-phone")
	noPageErrors()

	// Last, as it depends on the findings endpoint: the N+1 is shown.
	assert.NoError(t, findingErr, "the findings panel does not show the N+1 of %q; it says: %s",
		api[feedsKey].Fingerprint, strings.Join(strings.Fields(findingsText), " "))
}

// saveScreenshots writes the screenshots to the test's artifact directory
// and, when QUERYLENS_SCREENSHOT is set, the overview to that file.
func saveScreenshots(t *testing.T, shots map[string][]byte) {
	t.Helper()
	dir := t.ArtifactDir()
	for name, buf := range shots {
		p := filepath.Join(dir, name+".png")
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Errorf("save screenshot: %v", err)
			continue
		}
		t.Logf("screenshot: %s (%d bytes)", p, len(buf))
	}
	dest := os.Getenv(screenshotEnv)
	if dest == "" || shots["dashboard"] == nil {
		return
	}
	if !filepath.IsAbs(dest) {
		root, err := moduleRoot()
		if err != nil {
			t.Errorf("%s: %v", screenshotEnv, err)
			return
		}
		dest = filepath.Join(root, dest)
	}
	if err := os.WriteFile(dest, shots["dashboard"], 0o644); err != nil {
		t.Errorf("%s: %v", screenshotEnv, err)
		return
	}
	t.Logf("README screenshot written: %s (%d bytes)", dest, len(shots["dashboard"]))
}

// moduleRoot finds the directory holding go.mod above the working
// directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}
