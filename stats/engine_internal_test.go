package stats

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/querylens/querylens/fingerprint"
	"github.com/querylens/querylens/protocol"
)

// benchEvents returns n completed COM_QUERY events of shapes statement
// shapes, each with its own literal values.
func benchEvents(n, shapes int) []*protocol.Event {
	t0 := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	events := make([]*protocol.Event, n)
	for i := range events {
		sql := "SELECT id, name, email FROM users_" + strconv.Itoa(i%shapes) +
			" WHERE id = " + strconv.Itoa(i) + " AND state = 'active" + strconv.Itoa(i) + "' LIMIT 10"
		sent := t0.Add(time.Duration(i) * time.Millisecond)
		events[i] = &protocol.Event{
			Command: protocol.ComQuery, SQL: sql, User: "app", Schema: "shop",
			Sent: sent, Start: sent, FirstResponse: sent.Add(300 * time.Microsecond),
			End: sent.Add(time.Duration(400+i%5000) * time.Microsecond), RowsSent: 1,
			BytesIn: uint64(len(sql) + 5), BytesOut: 120,
		}
	}
	return events
}

// BenchmarkObserve measures the caller's side of Observe, which a proxy
// pump pays per event: "enqueue" when the queue has room (a channel send),
// "full" when it has none (an atomic add).
func BenchmarkObserve(b *testing.B) {
	ev := benchEvents(1, 1)[0]
	b.Run("enqueue", func(b *testing.B) {
		e, err := New(Config{}, zap.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if len(e.events) == cap(e.events) {
				b.StopTimer()
				for range len(e.events) {
					<-e.events
				}
				b.StartTimer()
			}
			e.Observe(ev)
		}
		if e.Dropped() != 0 {
			b.Fatalf("%d events dropped", e.Dropped())
		}
	})
	b.Run("full", func(b *testing.B) {
		e, err := New(Config{QueueSize: 1}, zap.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		e.Observe(ev)
		b.ReportAllocs()
		for b.Loop() {
			e.Observe(ev)
		}
	})
}

// BenchmarkApply measures the writer's cost per event in steady state:
// fingerprinting, the map lookup and the aggregate update.
func BenchmarkApply(b *testing.B) {
	cfg := DefaultConfig()
	w := newWriter(cfg, zap.NewNop())
	events := benchEvents(4096, 50)
	for _, ev := range events {
		w.apply(ev) // warm up: every key exists, histograms have grown
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.apply(events[i&(len(events)-1)])
		i++
	}
}

// BenchmarkApplyFingerprinted is BenchmarkApply without the fingerprint:
// the events' fingerprints are computed before the loop, so it measures
// what stats adds per text statement (counters, the aggregate's lookup and
// update, the finder's unit of work). Package fingerprint measures the
// fingerprint itself.
func BenchmarkApplyFingerprinted(b *testing.B) {
	w := newWriter(DefaultConfig(), zap.NewNop())
	events := benchEvents(4096, 50)
	fps := make([]fingerprint.Fingerprint, len(events))
	for i, ev := range events {
		fps[i] = w.fp.Fingerprint(ev.SQL)
		w.apply(ev) // warm up: every key exists, histograms have grown
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		j := i & (len(events) - 1)
		w.count(events[j])
		w.applyStatement(events[j], &fps[j])
		i++
	}
}

// BenchmarkPublish measures one publication with MaxDigests keys of which
// 100 changed since the previous one.
func BenchmarkPublish(b *testing.B) {
	cfg := DefaultConfig()
	w := newWriter(cfg, zap.NewNop())
	for _, ev := range benchEvents(cfg.MaxDigests, cfg.MaxDigests) {
		w.apply(ev)
	}
	changed := benchEvents(100, 100)
	w.snapshot(0)
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range changed {
			w.apply(ev)
		}
		w.snapshot(0)
	}
}

// TestApplyAllocations guards the writer's per-event budget: the
// fingerprint's text is the only allocation for a statement of a known key.
func TestApplyAllocations(t *testing.T) {
	w := newWriter(DefaultConfig(), zap.NewNop())
	events := benchEvents(256, 4)
	for _, ev := range events {
		w.apply(ev)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		w.apply(events[i%len(events)])
		i++
	})
	if allocs > 1 {
		t.Errorf("apply allocates %v times per event, want at most 1 (the fingerprint text)", allocs)
	}
}

// TestApplyRecoversPanic checks that a panic while handling one event skips
// that event, is counted, and leaves the writer working.
func TestApplyRecoversPanic(t *testing.T) {
	e, err := New(Config{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	events := benchEvents(2, 2)
	e.w.aggs = nil // a write to a nil map panics: stands in for a bug
	e.apply(item{ev: events[0]})
	if e.w.panics != 1 {
		t.Fatalf("panics = %d, want 1", e.w.panics)
	}
	e.w.aggs = map[aggKey]*aggregate{}
	e.apply(item{ev: events[1]})
	e.publish()
	s := e.Snapshot()
	if s.Panics != 1 || len(s.Digests) != 1 || s.Events != 2 {
		t.Errorf("after a panic: panics %d, digests %d, events %d; want 1, 1, 2", s.Panics, len(s.Digests), s.Events)
	}
}

// BenchmarkApplyPrepared measures one COM_STMT_EXECUTE of a statement
// whose PREPARE was seen: its fingerprint comes from the connection's
// statement table, not from normalizing the SQL again.
func BenchmarkApplyPrepared(b *testing.B) {
	w := newWriter(DefaultConfig(), zap.NewNop())
	t0 := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	const sql = "SELECT c FROM sbtest1 WHERE id = ?"
	at := t0
	mk := func(cmd protocol.Command) *protocol.Event {
		at = at.Add(time.Millisecond)
		return &protocol.Event{Command: cmd, SQL: sql, StmtID: 1, ClientAddr: "10.0.0.1:5000", ConnID: 9,
			User: "app", Schema: "sb", Sent: at, Start: at, FirstResponse: at.Add(100 * time.Microsecond),
			End: at.Add(200 * time.Microsecond), RowsSent: 1, ParamCount: 1, Status: 2,
			Params: []protocol.Param{{Type: protocol.TypeLongLong, Value: int64(at.UnixNano() % 10000)}}}
	}
	w.apply(mk(protocol.ComStmtPrepare))
	events := make([]*protocol.Event, 1024)
	for i := range events {
		events[i] = mk(protocol.ComStmtExecute)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.apply(events[i&(len(events)-1)])
		i++
	}
}

// BenchmarkPreparedLookup is the cached path of a prepared statement alone:
// finding the fingerprint its PREPARE was given (issue target: 50 ns).
func BenchmarkPreparedLookup(b *testing.B) {
	w := newWriter(DefaultConfig(), zap.NewNop())
	at := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	ev := &protocol.Event{Command: protocol.ComStmtPrepare, SQL: "SELECT c FROM sbtest1 WHERE id = ?", StmtID: 1,
		ClientAddr: "10.0.0.1:5000", ConnID: 9, User: "app", Schema: "sb",
		Sent: at, Start: at, FirstResponse: at, End: at, ParamCount: 1}
	w.apply(ev)
	exec := *ev
	exec.Command = protocol.ComStmtExecute
	if _, ok := w.find.prepared(&exec); !ok {
		b.Fatal("the PREPARE's fingerprint is not found")
	}
	b.ReportAllocs()
	for b.Loop() {
		w.find.prepared(&exec)
	}
}

// BenchmarkApplyTransactions measures the writer per statement of a
// sysbench-like read/write transaction on one connection (BEGIN, ten point
// reads, a range read, UPDATE, DELETE, INSERT, COMMIT): the finder opens
// and closes a unit of work per transaction, with an entry per shape.
func BenchmarkApplyTransactions(b *testing.B) {
	w := newWriter(DefaultConfig(), zap.NewNop())
	const inTx = 0x0001 | 0x0002 // SERVER_STATUS_IN_TRANS | AUTOCOMMIT
	var tx []*protocol.Event
	add := func(sql string, rows uint64, status uint16) {
		tx = append(tx, &protocol.Event{Command: protocol.ComQuery, SQL: sql, SQLLength: len(sql),
			User: "app", Schema: "sbtest", ClientAddr: "10.0.0.1:5000", ConnID: 1,
			RowsSent: rows, Results: 1, Status: status})
	}
	add("BEGIN", 0, inTx)
	for i := range 10 {
		add("SELECT c FROM sbtest1 WHERE id="+strconv.Itoa(100+i*37), 1, inTx)
	}
	add("SELECT c FROM sbtest1 WHERE id BETWEEN 500 AND 599", 100, inTx)
	add("UPDATE sbtest1 SET k=k+1 WHERE id=4711", 0, inTx)
	add("DELETE FROM sbtest1 WHERE id=4712", 0, inTx)
	add("INSERT INTO sbtest1 (id, k, c, pad) VALUES (4712, 1, 'c', 'p')", 0, inTx)
	add("COMMIT", 0, 0x0002)
	at := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	apply := func(ev *protocol.Event) {
		at = at.Add(100 * time.Microsecond)
		ev.Sent, ev.Start, ev.FirstResponse, ev.End = at, at, at.Add(30*time.Microsecond), at.Add(60*time.Microsecond)
		w.apply(ev)
	}
	for range 100 { // warm up: every key exists, histograms have grown
		for _, ev := range tx {
			apply(ev)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		apply(tx[i%len(tx)])
		i++
	}
}

// TestFullQueueWakesWriter: a producer that finds the queue full signals
// the writer to drain now (Run drains on e.full) instead of leaving the
// events to the next poll: Observe and ObserveClose when they drop,
// ObserveWait before it waits. The signal holds one wake-up and never
// blocks a producer.
func TestFullQueueWakesWriter(t *testing.T) {
	e, err := New(Config{QueueSize: 1}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ev := benchEvents(1, 1)[0]
	e.Observe(ev)
	if len(e.full) != 0 {
		t.Fatal("a send with room in the queue woke the writer")
	}
	e.Observe(ev)
	if e.Dropped() != 1 || len(e.full) != 1 {
		t.Fatalf("Observe on a full queue: %d dropped, %d wake-ups pending; want 1 and 1", e.Dropped(), len(e.full))
	}
	e.ObserveClose("10.0.0.1:5000", 7, time.Now()) // a second wake-up must not block
	if e.Dropped() != 2 || len(e.full) != 1 {
		t.Fatalf("ObserveClose on a full queue: %d dropped, %d wake-ups pending; want 2 and 1", e.Dropped(), len(e.full))
	}
	<-e.full
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := e.ObserveWait(ctx, ev); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ObserveWait on a full queue nobody drains: %v", err)
	}
	if len(e.full) != 1 {
		t.Fatal("ObserveWait waited for room without waking the writer")
	}
}
