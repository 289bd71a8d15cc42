package stats_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/stats"
)

// wire builds the events of one client connection, statement after
// statement, on a clock that advances by each statement's latency plus a
// think time.
type wire struct {
	addr   string
	id     uint32
	at     time.Duration
	think  time.Duration
	status uint16
	evs    []*protocol.Event
}

func newWire(addr string, id uint32, at time.Duration) *wire {
	return &wire{addr: addr, id: id, at: at, think: 100 * time.Microsecond, status: 0x0002}
}

func (w *wire) stamp(ev *protocol.Event, latency time.Duration) *protocol.Event {
	ev.ClientAddr, ev.ConnID, ev.User, ev.Schema = w.addr, w.id, "app", "shop"
	ev.Sent = t0.Add(w.at)
	ev.Start, ev.FirstResponse, ev.End = ev.Sent, ev.Sent.Add(latency/2), ev.Sent.Add(latency)
	w.at += latency + w.think
	w.evs = append(w.evs, ev)
	return ev
}

func (w *wire) connect() *wire {
	w.stamp(&protocol.Event{Command: protocol.ComConnect}, 2*time.Millisecond)
	return w
}

// q runs a text statement returning rows; its response carries the
// connection's current status flags.
func (w *wire) q(sql string, rows uint64) *wire {
	ev := w.stamp(&protocol.Event{Command: protocol.ComQuery, SQL: sql, SQLLength: len(sql), Results: 1}, time.Millisecond)
	ev.RowsSent = rows
	switch strings.ToUpper(strings.Fields(sql)[0]) {
	case "BEGIN":
		w.status |= 0x0001
	case "COMMIT", "ROLLBACK":
		w.status &^= 0x0001
	}
	ev.Status = w.status
	return w
}

func (w *wire) quit() *wire {
	w.stamp(&protocol.Event{Command: protocol.ComQuit}, 0)
	return w
}

func (w *wire) pause(d time.Duration) *wire { w.at += d; return w }

// findings runs events through an engine on event time and returns the
// findings once it has stopped (which ends every open unit).
func findings(t *testing.T, cfg stats.FindingsConfig, wires ...*wire) *stats.Snapshot {
	t.Helper()
	return run(t, stats.Config{Findings: cfg}, wires...)
}

// run is findings with the engine's whole configuration.
func run(t *testing.T, cfg stats.Config, wires ...*wire) *stats.Snapshot {
	t.Helper()
	cfg.Findings.EventTime = true
	e := newEngine(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	for _, w := range wires {
		for _, ev := range w.evs {
			require.NoError(t, e.ObserveWait(context.Background(), ev))
		}
	}
	cancel()
	<-done
	return e.Snapshot()
}

func kinds(s *stats.Snapshot) map[string]int {
	m := map[string]int{}
	for _, f := range s.Findings {
		m[f.Kind]++
	}
	return m
}

func only(t *testing.T, s *stats.Snapshot, kind string) *stats.Finding {
	t.Helper()
	var got *stats.Finding
	for _, f := range s.Findings {
		if f.Kind == kind {
			require.Nil(t, got, "more than one %s finding: %+v", kind, s.Findings)
			got = f
		}
	}
	require.NotNil(t, got, "no %s finding in %v", kind, kinds(s))
	return got
}

func TestNPlusOneFeedReader(t *testing.T) {
	w := newWire("10.0.0.1:5000", 7, 0).connect()
	w.q("SELECT id, title FROM items ORDER BY id LIMIT 50", 50)
	for i := range 50 {
		w.q(fmt.Sprintf("SELECT * FROM feeds WHERE item_id = %d", i+1), 3)
	}
	w.quit()
	s := findings(t, stats.FindingsConfig{}, w)
	f := only(t, s, stats.KindNPlusOne)
	assert.Equal(t, textOf("SELECT * FROM feeds WHERE item_id = 1"), f.Fingerprint)
	assert.Equal(t, textOf("SELECT id, title FROM items ORDER BY id LIMIT 50"), f.SourceFingerprint)
	assert.EqualValues(t, 50, f.Executions)
	assert.EqualValues(t, 1, f.Units)
	assert.Equal(t, "select * from feeds where item_id in (...)", f.Suggestion)
	assert.InDelta(t, 0.049, f.SavingSeconds, 0.0005)
	assert.Empty(t, f.Examples[0].Values, "literals stay out without LogLiterals")
	assert.Equal(t, map[string]int{stats.KindNPlusOne: 1}, kinds(s))

	// The same page with one JOIN, or one IN query: nothing to report.
	j := newWire("10.0.0.1:5001", 8, 0).connect()
	j.q("SELECT i.id, f.* FROM items i JOIN feeds f ON f.item_id = i.id ORDER BY i.id LIMIT 50", 150)
	j.q("SELECT id, title FROM items ORDER BY id LIMIT 50", 50)
	j.q("SELECT * FROM feeds WHERE item_id IN (1,2,3,4,5,6,7,8,9,10)", 30)
	j.quit()
	assert.Empty(t, findings(t, stats.FindingsConfig{}, j).Findings)
}

// TestRecycledEventsCountTheSame: an engine that gives every event back
// for reuse once applied (RecycleEvents, as the daemon runs) ends with the
// same statistics and findings, examples included, as one that keeps them;
// and it did give them back (a released event is zeroed).
func TestRecycledEventsCountTheSame(t *testing.T) {
	workload := func() *wire {
		w := newWire("10.0.0.1:5000", 7, 0).connect()
		for range 3 {
			w.q("BEGIN", 0)
			w.q("SELECT id, title FROM items ORDER BY id LIMIT 20", 20)
			for i := range 20 {
				w.q(fmt.Sprintf("SELECT * FROM feeds WHERE item_id = %d", i+1), 3)
			}
			w.q("UPDATE items SET seen = seen + 1 WHERE id = 7", 0)
			w.q("COMMIT", 0)
		}
		return w.quit()
	}
	kept, recycled := workload(), workload()
	want := run(t, stats.Config{LogLiterals: true}, kept)
	got := run(t, stats.Config{LogLiterals: true, RecycleEvents: true}, recycled)
	require.NotEmpty(t, want.Findings)
	require.NotEmpty(t, want.Findings[0].Examples)
	assert.Equal(t, comparable(t, want), comparable(t, got))
	for i, ev := range recycled.evs {
		require.Equal(t, protocol.Event{}, *ev, "event %d was not given back", i)
	}
	assert.NotEmpty(t, kept.evs[1].SQL, "without RecycleEvents events are left alone")
}

func TestIndependentLookupsAreNoLoop(t *testing.T) {
	// Ten random point reads after a range query of 100 rows (sysbench
	// without transactions): the source's row count does not match.
	w := newWire("10.0.0.1:5000", 7, 0).connect()
	w.q("SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c", 100)
	for i := range 10 {
		w.q(fmt.Sprintf("SELECT c FROM sbtest1 WHERE id = %d", 37*i+5), 1)
	}
	w.quit()
	assert.Empty(t, findings(t, stats.FindingsConfig{}, w).Findings)
}

func TestRepeatedReadAndChurn(t *testing.T) {
	// A crash-report handler: six identical lookups, each on a connection
	// of its own, one after another.
	var wires []*wire
	at := time.Duration(0)
	for i := range 6 {
		w := newWire(fmt.Sprintf("10.0.0.2:%d", 6000+i), uint32(100+i), at).connect()
		w.q("SELECT filename FROM files WHERE report_uuid = 'f3a1'", 2).quit()
		at = w.at + time.Millisecond
		wires = append(wires, w)
	}
	s := findings(t, stats.FindingsConfig{}, wires...)
	rr := only(t, s, stats.KindRepeatedRead)
	assert.EqualValues(t, 6, rr.Executions)
	assert.EqualValues(t, 1, rr.Units)
	churn := only(t, s, stats.KindConnectionChurn)
	assert.EqualValues(t, 6, churn.Executions)
	assert.InDelta(t, 0.012, churn.Seconds, 1e-9, "six 2 ms handshakes")
	assert.Contains(t, churn.Title, "app@10.0.0.2")
}

func TestRowRoundTrips(t *testing.T) {
	w := newWire("10.0.0.3:7000", 9, 0).connect()
	w.q("SELECT * FROM messages WHERE id = 42", 1)
	w.q("SELECT 1 AS one FROM messages WHERE messages.id = 42 LIMIT 1", 1)
	w.q("UPDATE messages SET subject = 'hi', body = 'x', is_read = 1 WHERE messages.id = 42", 0)
	w.quit()
	s := findings(t, stats.FindingsConfig{}, w)
	f := only(t, s, stats.KindRowRoundTrips)
	assert.EqualValues(t, 3, f.Executions)
	assert.Len(t, f.Related, 3)
	assert.Contains(t, f.ID, "messages.id")

	one := newWire("10.0.0.3:7001", 10, 0).connect()
	one.q("UPDATE messages SET is_read = 1 WHERE id = 42", 0).quit()
	assert.Empty(t, findings(t, stats.FindingsConfig{}, one).Findings)
}

// TestRowRoundTripsPerUnit: a unit's rows start from nothing, though the
// finder reuses the rows of closed units.
func TestRowRoundTripsPerUnit(t *testing.T) {
	w := newWire("10.0.0.3:7002", 12, 0).connect()
	w.q("SELECT * FROM messages WHERE id = 42", 1)
	w.q("SELECT 1 AS one FROM messages WHERE messages.id = 42 LIMIT 1", 1)
	w.q("UPDATE messages SET is_read = 1 WHERE messages.id = 42", 0)
	for range 3 {
		w.pause(time.Minute) // a unit of its own each time
		w.q("UPDATE messages SET is_read = 1 WHERE messages.id = 42", 0)
	}
	w.quit()
	s := findings(t, stats.FindingsConfig{}, w)
	f := only(t, s, stats.KindRowRoundTrips)
	assert.EqualValues(t, 1, f.Units)
	assert.EqualValues(t, 3, f.Executions)
}

func TestTraceparentGroupsAcrossConnections(t *testing.T) {
	// Two requests, each spread over three pooled connections; each
	// request reads the same user three times.
	var wires []*wire
	for r, trace := range []string{"4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"} {
		for c := range 3 {
			w := newWire(fmt.Sprintf("10.0.0.4:%d", 8000+3*r+c), uint32(200+3*r+c), time.Duration(r)*time.Second+time.Duration(c)*5*time.Millisecond)
			w.q(fmt.Sprintf("SELECT * FROM users WHERE id = 5 /*route='%%2Fprofile',traceparent='00-%s-%016x-01'*/", trace, c), 1)
			wires = append(wires, w)
		}
	}
	s := findings(t, stats.FindingsConfig{}, wires...)
	f := only(t, s, stats.KindRepeatedRead)
	assert.EqualValues(t, 2, f.Units, "one unit per request")
	assert.EqualValues(t, 6, f.Executions)
	assert.Equal(t, []string{"route=/profile"}, f.Tags)
	assert.Contains(t, f.Examples[0].Unit, "trace 4bf92f3577b34da6a3ce929d0e0e4736")
}

func TestTransactionsAreUnits(t *testing.T) {
	w := newWire("10.0.0.5:9000", 11, 0).connect()
	w.q("BEGIN", 0)
	w.q("SELECT * FROM accounts WHERE id = 1 FOR UPDATE", 1)
	w.pause(800 * time.Millisecond) // the application works while holding the lock
	w.q("UPDATE accounts SET balance = balance - 10 WHERE id = 1", 0)
	w.pause(2 * time.Second)
	w.q("COMMIT", 0)
	// Statements after the transaction are another unit.
	w.q("SELECT * FROM accounts WHERE id = 1", 1)
	w.quit()
	s := findings(t, stats.FindingsConfig{}, w)
	assert.EqualValues(t, 1, s.Transactions.Count)
	assert.EqualValues(t, 4, s.Transactions.Statements)
	assert.InDelta(t, 2.8, s.Transactions.IdleSeconds, 0.01)
	long := only(t, s, stats.KindLongTransaction)
	assert.Equal(t, textOf("SELECT * FROM accounts WHERE id = 1 FOR UPDATE"), long.Fingerprint)
	idle := only(t, s, stats.KindIdleInTransaction)
	assert.InDelta(t, 2.8, idle.Seconds, 0.01)
	assert.Zero(t, kinds(s)[stats.KindRowRoundTrips], "the select after COMMIT is in another unit")
}

func TestCoincidencesAreNotHabits(t *testing.T) {
	// 300 transactions of ten random point reads; in one, three of them
	// happen to read one row: a minority of its reads, not a habit.
	w := newWire("10.0.0.6:9100", 12, 0).connect()
	for i := range 300 {
		w.q("BEGIN", 0)
		for j := range 10 {
			id := i*10 + j
			if i == 150 && j < 3 {
				id = 7
			}
			w.q(fmt.Sprintf("SELECT c FROM sbtest1 WHERE id = %d", id), 1)
		}
		w.q("COMMIT", 0)
	}
	// Two transactions that do nothing but read one row three times: a
	// habit, but of 2 in 302 units only, under the 5% share.
	for range 2 {
		w.q("BEGIN", 0)
		for range 3 {
			w.q("SELECT c FROM sbtest1 WHERE id = 42", 1)
		}
		w.q("COMMIT", 0)
	}
	w.quit()
	s := findings(t, stats.FindingsConfig{}, w)
	assert.Empty(t, stats.VisibleFindings(s.Findings, stats.DefaultMinShare))
	f := only(t, s, stats.KindRepeatedRead)
	assert.EqualValues(t, 2, f.Units)
	assert.EqualValues(t, 302, f.UnitsSeen)
	assert.EqualValues(t, 2, s.FindingUnits[stats.KindRepeatedRead], "seen and counted, not shown")
	assert.Zero(t, s.FindingsCreated[stats.KindRepeatedRead])
	assert.EqualValues(t, 302, s.Transactions.Count)
	assert.NotEmpty(t, stats.VisibleFindings(s.Findings, 0.005), "a lower share shows it")
}

func TestPreparedStatementFindings(t *testing.T) {
	w := newWire("10.0.0.7:9200", 13, 0).connect()
	const sql = "SELECT name FROM users WHERE id = ?"
	for i := range 6 {
		id := uint32(i + 1)
		w.stamp(&protocol.Event{Command: protocol.ComStmtPrepare, SQL: sql, StmtID: id, Results: 1}, time.Millisecond)
		ex := w.stamp(&protocol.Event{Command: protocol.ComStmtExecute, SQL: sql, StmtID: id, ParamCount: 1,
			Params: []protocol.Param{{Type: protocol.TypeLongLong, Value: int64(i)}}, Results: 1}, time.Millisecond)
		ex.RowsSent = 1
		w.stamp(&protocol.Event{Command: protocol.ComStmtClose, SQL: sql, StmtID: id}, 0)
	}
	// A leak: the same text prepared again and again, never closed.
	for i := range 6 {
		w.stamp(&protocol.Event{Command: protocol.ComStmtPrepare, SQL: "SELECT 1 FROM t WHERE a = ?", StmtID: uint32(100 + i), Results: 1}, time.Millisecond)
	}
	w.quit()
	s := findings(t, stats.FindingsConfig{}, w)
	ppe := only(t, s, stats.KindPreparePerExecute)
	assert.EqualValues(t, 6, ppe.Executions)
	assert.Equal(t, textOf(sql), ppe.Fingerprint)
	re := only(t, s, stats.KindReprepare)
	assert.EqualValues(t, 5, re.Executions)
}

func TestFindingsMergeAndSurviveJSON(t *testing.T) {
	w := newWire("10.0.0.1:5000", 7, 0).connect()
	w.q("SELECT id FROM items LIMIT 5", 5)
	for i := range 5 {
		w.q(fmt.Sprintf("SELECT * FROM feeds WHERE item_id = %d", i), 1)
	}
	w.quit()
	a := findings(t, stats.FindingsConfig{}, w)
	m := stats.Merge(a, a)
	f := only(t, m, stats.KindNPlusOne)
	assert.EqualValues(t, 10, f.Executions)
	assert.EqualValues(t, 2, f.Units)
	assert.EqualValues(t, 2, m.FindingsCreated[stats.KindNPlusOne])
}
