package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/report"
	"github.com/querylens/querylens/stats"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestMain fails the run when tests leave goroutines behind (an HTTP
// transport not closed, an engine not stopped).
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "goroutines leaked: %d at start, %d at the end\n%s\n", before, n, buf[:runtime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}

// t0 is when every test workload starts; it runs for span.
var t0 = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

const span = 10 * time.Minute

// clock is an injected stats clock that tests move by hand.
type clock struct{ ns atomic.Int64 }

func newClock(at time.Time) *clock {
	c := &clock{}
	c.set(at)
	return c
}

func (c *clock) set(at time.Time) { c.ns.Store(at.UnixNano()) }
func (c *clock) now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }

// ev builds a completed statement event sent at t0+at that took latency,
// its first response byte at 40% of it.
func ev(cmd protocol.Command, sql, schema, user string, at, latency time.Duration) *protocol.Event {
	sent := t0.Add(at)
	return &protocol.Event{
		Command:       cmd,
		SQL:           sql,
		SQLLength:     len(sql),
		User:          user,
		Schema:        schema,
		ClientAddr:    "127.0.0.1:40000",
		Sent:          sent,
		Start:         sent,
		FirstResponse: sent.Add(latency * 2 / 5),
		End:           sent.Add(latency),
		Results:       1,
		BytesIn:       uint64(len(sql) + 5),
		BytesOut:      64,
	}
}

// us is n microseconds.
func us(n int) time.Duration { return time.Duration(n) * time.Microsecond }

// workload returns the events of a small shop application over span, in
// time order: point reads in two schemas, updates that deadlock now and
// then, inserts hitting duplicates, a slow report, prepared statements
// (one that fails to prepare), a tagged statement, an incomplete one,
// connections, pings, and three rare statements seen last.
func workload() []*protocol.Event {
	var evs []*protocol.Event
	add := func(e *protocol.Event) { evs = append(evs, e) }
	at := func(i, n int) time.Duration { return time.Duration(i) * (span - time.Minute) / time.Duration(n) }

	for i := range 1200 {
		e := ev(protocol.ComQuery, fmt.Sprintf("SELECT name, price FROM items WHERE id = %d", i%97), "shop", "app",
			at(i, 1200)+us(1), us(150+i*7919%1000))
		if i%100 == 99 {
			e.End = e.Sent.Add(25 * time.Millisecond)
		}
		e.RowsSent, e.BytesOut = 1, 180
		add(e)
	}
	for i := range 200 {
		e := ev(protocol.ComQuery, fmt.Sprintf("SELECT name, price FROM items WHERE id = %d", i), "shop_eu", "app_eu",
			at(i, 200)+us(2), us(120+i*31%400))
		e.RowsSent, e.BytesOut = 1, 180
		add(e)
	}
	for i := range 300 {
		e := ev(protocol.ComQuery, fmt.Sprintf("UPDATE items SET stock = stock - %d WHERE id = %d", 1+i%3, i), "shop", "app",
			at(i, 300)+us(3), us(2000+(i%50)*200))
		e.RowsAffected = 1
		switch {
		case i%40 == 39:
			e.ErrorCode, e.SQLState, e.RowsAffected = 1213, "40001", 0
		case i%75 == 74:
			e.ErrorCode, e.SQLState, e.RowsAffected = 1205, "HY000", 0
			e.End = e.Sent.Add(5 * time.Second)
		}
		add(e)
	}
	for i := range 250 {
		e := ev(protocol.ComQuery, fmt.Sprintf("INSERT INTO orders (customer_id, total) VALUES (%d, %d.50)", i, 10+i), "shop", "app",
			at(i, 250)+us(4), us(800+i*13%700))
		e.RowsAffected = 1
		if i%50 == 49 {
			e.ErrorCode, e.SQLState, e.RowsAffected = 1062, "23000", 0
		}
		add(e)
	}
	for i := range 12 {
		e := ev(protocol.ComQuery, "SELECT * FROM orders WHERE created_at > '2026-01-01' ORDER BY created_at", "shop", "report",
			at(i, 12)+us(5), time.Duration(1200+i*i*90)*time.Millisecond)
		e.RowsSent, e.BytesOut = uint64(5000+i*100), uint64(400_000+i*8_000)
		add(e)
	}
	const byEmail = "SELECT id FROM customers WHERE email = ?"
	for c := range 4 {
		e := ev(protocol.ComStmtPrepare, byEmail, "shop", "app", at(c, 4)+us(6), us(90))
		e.StmtID = uint32(c + 1)
		add(e)
	}
	for i := range 400 {
		e := ev(protocol.ComStmtExecute, byEmail, "shop", "app", at(i, 400)+us(7), us(300+i*17%200))
		e.StmtID = uint32(i%4 + 1)
		if i%10 != 0 {
			e.RowsSent = 1
		}
		add(e)
	}
	bad := ev(protocol.ComStmtPrepare, "SELECT nope FROM customers WHERE id = ?", "shop", "app", 90*time.Second, us(70))
	bad.ErrorCode, bad.SQLState = 1054, "42S22"
	add(bad)
	for i := range 50 {
		e := ev(protocol.ComQuery, fmt.Sprintf("SELECT count(*) FROM carts WHERE customer_id = %d /*action='show',controller='cart'*/", i),
			"shop", "web", at(i, 50)+us(8), us(400+i*20))
		e.RowsSent = 1
		add(e)
	}
	for i := range 30 {
		e := ev(protocol.ComQuery, fmt.Sprintf("SELECT o.id, o.customer_id, o.total, c.email, c.name FROM orders o "+
			"JOIN customers c ON c.id = o.customer_id WHERE o.status = 'open' AND o.created_at < NOW() - INTERVAL %d DAY", 1+i%3),
			"shop", "report", at(i, 30)+us(9), time.Duration(40+i)*time.Millisecond)
		e.RowsSent = uint64(120 + i)
		add(e)
	}
	sleep := ev(protocol.ComQuery, "SELECT SLEEP(30)", "shop", "app", 8*time.Minute, 0)
	sleep.Incomplete, sleep.FirstResponse, sleep.End, sleep.Results = true, time.Time{}, time.Time{}, 0
	add(sleep)

	for i := range 6 {
		e := ev(protocol.ComConnect, "", "shop", "app", at(i, 6), us(3000))
		if i == 5 {
			e.ErrorCode, e.SQLState = 1045, "28000"
		}
		add(e)
	}
	for i := range 20 {
		add(ev(protocol.ComPing, "", "shop", "app", at(i, 20)+us(10), us(60)))
	}
	for i := range 5 {
		add(ev(protocol.ComQuit, "", "shop", "app", at(i, 5)+us(11), 0))
	}

	// Seen last, so that they are the keys beyond MaxDigests.
	for i, sql := range []string{"SELECT VERSION()", "SHOW PROCESSLIST", "SELECT @@read_only"} {
		e := ev(protocol.ComQuery, sql, "admin", "dba", span-time.Minute+time.Duration(i+1)*time.Second, us(200*(i+1)))
		e.RowsSent = 1
		if i == 1 {
			e.ErrorCode, e.SQLState, e.RowsSent = 1227, "42000", 0
		}
		add(e)
	}
	slices.SortStableFunc(evs, func(a, b *protocol.Event) int { return a.Sent.Compare(b.Sent) })
	return evs
}

// oddities returns statements that exercise the rarer parts of a report:
// a statement cut at the proxy's SQL cap, one the parser does not
// understand, more users than an entry keeps, and markup characters.
func oddities() []*protocol.Event {
	var evs []*protocol.Event
	long := "SELECT a FROM t WHERE b IN (1, 2, 3) AND c = 'x|y' AND d = `e`"
	cutAt := ev(protocol.ComQuery, long[:40], "s*1", "app", time.Second, us(500))
	cutAt.SQLTruncated, cutAt.SQLLength = true, len(long)
	evs = append(evs, cutAt)
	for i := range 20 {
		e := ev(protocol.ComQuery, fmt.Sprintf("SELECT `a|b` FROM t WHERE c = 'it''s %d'", i), "s*1", fmt.Sprintf("user%02d", i),
			time.Duration(i+2)*time.Second, us(100+50*i))
		e.Warnings = 1
		evs = append(evs, e)
	}
	evs = append(evs, ev(protocol.ComQuery, "FROBNICATE THE WIDGETS", "", "app", 30*time.Second, us(90)))
	return evs
}

// workloadKeys is the number of (digest, schema) keys of workload, the
// three rare ones excluded.
const workloadKeys = 10

// engineOpts shapes newWorkloadEngine.
type engineOpts struct {
	maxDigests  int
	dropped     int  // events Observe drops before the writer starts
	logLiterals bool // keep raw samples
}

// newEngine creates an engine on clk (at t0) fed evs, runs it until the
// test ends, and moves the clock to t0+span: snapshots then span the
// whole workload.
func newEngine(t testing.TB, evs []*protocol.Event, o engineOpts) *stats.Engine {
	t.Helper()
	clk := newClock(t0)
	cfg := stats.Config{MaxDigests: o.maxDigests, Now: clk.now, QueueSize: len(evs) + 1, LogLiterals: o.logLiterals}
	e, err := stats.New(cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	// The writer has not started: the queue holds everything, and events
	// beyond its capacity are dropped, deterministically.
	for _, ev := range evs {
		e.Observe(ev)
	}
	if o.dropped > 0 {
		for range o.dropped + 1 { // the first fills the queue
			e.Observe(ev(protocol.ComPing, "", "", "", 0, 0))
		}
	}
	clk.set(t0.Add(span))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), time.Minute)
	defer cancelFlush()
	require.NoError(t, e.Flush(flushCtx))
	return e
}

// snapshotJSON returns e's snapshot as GET /api/v1/snapshot serves it.
func snapshotJSON(t testing.TB, e *stats.Engine) []byte {
	t.Helper()
	b, err := json.MarshalIndent(e.Snapshot(), "", "  ")
	require.NoError(t, err)
	return b
}

// writeFile writes b to a file in a test directory and returns its path.
func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// runReport runs the command with stdin and returns its stdout, stderr and
// error.
func runReport(t testing.TB, stdin []byte, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := report.RunWithStdin(ctx, args, bytes.NewReader(stdin), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// withoutSources drops the line naming the sources, the only one that
// differs between reports of the same numbers read from different places.
func withoutSources(s string) string {
	lines := strings.Split(s, "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, "# Sources ") || strings.HasPrefix(l, "Sources: ")
	})
	return strings.Join(lines, "\n")
}

// golden compares got with testdata/name.golden, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	require.Equal(t, string(want), got, "output differs from %s; run go test -update after checking the change", path)
}
