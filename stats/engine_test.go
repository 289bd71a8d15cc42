package stats_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/stats"
)

func TestConfigValidate(t *testing.T) {
	require.NoError(t, stats.Config{}.Validate())
	require.NoError(t, stats.DefaultConfig().Validate())
	for name, cfg := range map[string]stats.Config{
		"MaxDigests":      {MaxDigests: -1},
		"QueueSize":       {QueueSize: -1},
		"PublishInterval": {PublishInterval: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), name)
			_, err = stats.New(cfg, nil)
			assert.Error(t, err)
		})
	}
}

func TestSnapshotNeverNil(t *testing.T) {
	e := newEngine(t, stats.Config{})
	s := e.Snapshot()
	require.NotNil(t, s)
	assert.Equal(t, stats.SnapshotVersion, s.Version)
	assert.Empty(t, s.Digests)
	require.NotNil(t, s.Overflow)
	assert.Equal(t, stats.OverflowDigest, s.Overflow.Digest)
}

func TestAggregatesPerDigestAndSchema(t *testing.T) {
	e := startEngine(t, stats.Config{})
	const (
		byID   = "SELECT name FROM users WHERE id = 1"
		byID2  = "select name from users where id = 42"
		insert = "INSERT INTO orders (user_id, total) VALUES (7, 'x')"
	)
	e.Observe(query(byID, "shop", 0, 2*time.Millisecond))
	e.Observe(query(byID2, "shop", time.Second, 4*time.Millisecond))
	e.Observe(query(byID, "crm", 2*time.Second, 8*time.Millisecond))
	ins := query(insert, "shop", 3*time.Second, time.Millisecond)
	ins.RowsAffected, ins.Warnings = 1, 2
	e.Observe(ins)
	s := flush(t, e)

	require.Len(t, s.Digests, 3)
	assert.Equal(t, digestOf(byID), digestOf(byID2), "literals differ, shape is the same")

	shop := find(s, byID, "shop")
	require.NotNil(t, shop)
	assert.Equal(t, uint64(2), shop.Count, "different literals group together")
	assert.Equal(t, map[string]uint64{"query": 2}, shop.Commands)
	assert.Equal(t, textOf(byID), shop.Fingerprint)
	assert.NotContains(t, shop.Fingerprint, "42", "no literal in the sample")
	assert.Empty(t, shop.SampleRaw, "no raw sample without LogLiterals")
	assert.Equal(t, t0, shop.FirstSeen)
	assert.Equal(t, t0.Add(time.Second), shop.LastSeen)
	assert.Equal(t, []string{"app"}, shop.Users)
	assert.InDelta(t, 0.006, shop.Latency.Sum, 1e-12)
	assert.InDelta(t, 0.002, shop.Latency.Min, 1e-12)
	assert.InDelta(t, 0.004, shop.Latency.Max, 1e-12)
	assert.InDelta(t, 0.003, shop.Latency.Mean, 1e-12)
	assert.InDelta(t, 0.003, shop.TTFB.Sum, 1e-12)
	assert.Equal(t, uint64(2), shop.LatencyHistogram.Count())
	assert.NotEmpty(t, shop.Kind)

	crm := find(s, byID, "crm")
	require.NotNil(t, crm)
	assert.Equal(t, uint64(1), crm.Count)

	in := find(s, insert, "shop")
	require.NotNil(t, in)
	assert.Equal(t, uint64(1), in.RowsAffected)
	assert.Equal(t, uint64(2), in.Warnings)
	assert.Equal(t, uint64(len(insert)+5), in.BytesIn)
	assert.Equal(t, uint64(100), in.BytesOut)

	// Ordered by total time: crm (8ms) > shop (6ms) > insert (1ms).
	assert.Equal(t, []string{"crm", "shop", "shop"},
		[]string{s.Digests[0].Schema, s.Digests[1].Schema, s.Digests[2].Schema})
	assert.Equal(t, uint64(4), s.Events)
	assert.Equal(t, map[string]uint64{"query": 4}, s.Commands)
}

func TestCommandKinds(t *testing.T) {
	e := startEngine(t, stats.Config{})
	const sel = "SELECT * FROM t WHERE id = ?"
	events := []*protocol.Event{
		{Command: protocol.ComConnect, User: "app", Schema: "shop"},
		{Command: protocol.ComConnect, User: "bad", ErrorCode: 1045},
		{Command: protocol.ComInitDB, SQL: "shop"}, // SQL is a schema name, not a statement
		{Command: protocol.ComPing},
		{Command: protocol.ComStmtPrepare, SQL: sel, Schema: "shop"},
		{Command: protocol.ComStmtPrepare, SQL: sel, Schema: "shop", ErrorCode: 1461},
		{Command: protocol.ComStmtExecute, SQL: sel, Schema: "shop"},
		{Command: protocol.ComStmtExecute, SQL: sel, Schema: "shop"},
		{Command: protocol.ComStmtExecute, Schema: "shop"},                      // statement unknown: not per digest
		{Command: protocol.ComStmtFetch, SQL: sel, Schema: "shop", RowsSent: 7}, // continues an execution
		{Command: protocol.ComStmtClose, SQL: sel, Schema: "shop"},
		{Command: protocol.ComQuit},
	}
	for _, ev := range events {
		e.Observe(ev)
	}
	s := flush(t, e)

	assert.Equal(t, map[string]uint64{
		"connect": 2, "init_db": 1, "ping": 1, "stmt_prepare": 2, "stmt_execute": 3,
		"stmt_fetch": 1, "stmt_close": 1, "quit": 1,
	}, s.Commands)
	assert.Equal(t, map[string]uint64{"connect": 1, "stmt_prepare": 1}, s.CommandErrors)
	assert.Equal(t, uint64(len(events)), s.Events)
	require.Len(t, s.Digests, 1, "only statements with SQL are aggregated per digest")
	d := s.Digests[0]
	assert.Equal(t, uint64(2), d.Count, "executions only, as the server's digest table counts")
	assert.Equal(t, map[string]uint64{"stmt_prepare": 2, "stmt_execute": 2, "stmt_fetch": 1}, d.Commands)
	assert.Equal(t, uint64(0), d.Errors, "a failed prepare is not a failed execution")
	assert.Equal(t, uint64(1), d.PrepareErrors)
	assert.Equal(t, uint64(7), d.RowsSent, "rows read through a cursor count")
	assert.Equal(t, uint64(0), d.LatencyHistogram.Count(), "no times, no latency")
}

func TestErrorsAndIncomplete(t *testing.T) {
	e := startEngine(t, stats.Config{})
	const sel = "SELECT * FROM missing WHERE a = 1"
	for i, code := range []uint16{1146, 1146, 1064, 0} {
		ev := query(sel, "shop", time.Duration(i)*time.Second, time.Millisecond)
		ev.ErrorCode = code
		e.Observe(ev)
	}
	inc := query(sel, "shop", 10*time.Second, 0)
	inc.Incomplete, inc.End, inc.FirstResponse = true, time.Time{}, time.Time{}
	e.Observe(inc)
	// More distinct codes than MaxErrorCodes: the excess is counted apart.
	for code := range uint16(stats.MaxErrorCodes + 3) {
		ev := query(sel, "shop", 20*time.Second, time.Millisecond)
		ev.ErrorCode = 2000 + code
		e.Observe(ev)
	}
	s := flush(t, e)

	d := find(s, sel, "shop")
	require.NotNil(t, d)
	assert.Equal(t, uint64(4+1+stats.MaxErrorCodes+3), d.Count)
	assert.Equal(t, uint64(3+stats.MaxErrorCodes+3), d.Errors, "incomplete is not an error")
	assert.Equal(t, uint64(1), d.Incomplete)
	assert.Len(t, d.ErrorsByCode, stats.MaxErrorCodes)
	assert.Equal(t, uint64(2), d.ErrorsByCode[1146])
	assert.Equal(t, uint64(1), d.ErrorsByCode[1064])
	assert.Equal(t, uint64(5), d.ErrorsOtherCodes)
	assert.Equal(t, d.Count-1, d.LatencyHistogram.Count(), "an incomplete statement has no latency")
	assert.Equal(t, map[string]uint64{"query": uint64(4 + 1 + stats.MaxErrorCodes + 3)}, s.Commands)
	assert.Equal(t, map[string]uint64{"query": d.Errors}, s.CommandErrors)
}

func TestOverflow(t *testing.T) {
	e := startEngine(t, stats.Config{MaxDigests: 2})
	a, b := "SELECT a FROM t WHERE id = 1", "SELECT b FROM t WHERE id = 1"
	c, d := "SELECT c FROM t WHERE id = 1", "SELECT d FROM t WHERE id = 1"
	e.Observe(query(a, "s1", 0, time.Millisecond))
	e.Observe(query(b, "s1", 0, time.Millisecond))
	e.Observe(query(c, "s1", 0, 3*time.Millisecond)) // over the limit
	e.Observe(query(a, "s2", 0, 5*time.Millisecond)) // a new key too
	e.Observe(query(d, "s3", 0, time.Millisecond))
	e.Observe(query(a, "s1", 0, time.Millisecond)) // known key: still counted in place
	s := flush(t, e)

	require.Len(t, s.Digests, 2)
	assert.Equal(t, uint64(2), find(s, a, "s1").Count)
	assert.Equal(t, uint64(3), s.OverflowEvents)
	o := s.Overflow
	assert.Equal(t, stats.OverflowDigest, o.Digest)
	assert.Equal(t, stats.OverflowFingerprint, o.Fingerprint)
	assert.Equal(t, uint64(3), o.Count)
	assert.Equal(t, []string{"s1", "s2", "s3"}, o.Schemas)
	assert.InDelta(t, 0.009, o.Latency.Sum, 1e-12)
}

func TestObserveNeverBlocksWhenFull(t *testing.T) {
	e := newEngine(t, stats.Config{QueueSize: 4})
	// No writer yet: the queue fills after 4 events and the rest drop. The
	// test finishing at all shows that Observe did not block.
	for i := range 10 {
		e.Observe(query("SELECT 1", "", time.Duration(i), time.Millisecond))
	}
	assert.Equal(t, uint64(6), e.Dropped())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	s := flush(t, e)
	assert.Equal(t, uint64(4), s.Events)
	assert.Equal(t, uint64(6), s.DroppedEvents)
	cancel()
	<-done

	// After Run has returned, Observe still does not block and Flush says so.
	for range 10 {
		e.Observe(query("SELECT 1", "", 0, time.Millisecond))
	}
	assert.Equal(t, uint64(6+6), e.Dropped(), "4 more fit in the queue")
	assert.ErrorIs(t, e.Flush(context.Background()), stats.ErrStopped)
}

func TestRunDrainsOnShutdown(t *testing.T) {
	e := newEngine(t, stats.Config{PublishInterval: time.Hour})
	for range 100 {
		e.Observe(query("SELECT 1", "", 0, time.Millisecond))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.Run(ctx) // returns after draining the queue
	assert.Equal(t, uint64(100), e.Snapshot().Events)
	assert.Equal(t, uint64(100), e.Snapshot().Digests[0].Count)
}

func TestFlushWithoutRunHonoursContext(t *testing.T) {
	e := newEngine(t, stats.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, e.Flush(ctx), context.Canceled)
}

func TestReset(t *testing.T) {
	e := startEngine(t, stats.Config{MaxDigests: 1})
	e.Observe(query("SELECT a FROM t", "", 0, time.Millisecond))
	e.Observe(query("SELECT b FROM t", "", 0, time.Millisecond))
	s := flush(t, e)
	require.Len(t, s.Digests, 1)
	require.Equal(t, uint64(1), s.Overflow.Count)

	e.Reset()
	s = flush(t, e)
	assert.Empty(t, s.Digests)
	assert.Zero(t, s.Overflow.Count)
	assert.Equal(t, uint64(2), s.Events, "engine-wide counters keep counting")
	assert.Equal(t, uint64(1), s.OverflowEvents)

	e.Observe(query("SELECT b FROM t", "", 0, time.Millisecond))
	s = flush(t, e)
	require.Len(t, s.Digests, 1, "the digest limit applies afresh")
	assert.Equal(t, digestOf("SELECT b FROM t"), s.Digests[0].Digest)
}

func TestLogLiterals(t *testing.T) {
	const fast, slow = "SELECT * FROM t WHERE secret = 'fast'", "SELECT * FROM t WHERE secret = 'slow'"
	for _, logLiterals := range []bool{false, true} {
		t.Run(strconv.FormatBool(logLiterals), func(t *testing.T) {
			e := startEngine(t, stats.Config{LogLiterals: logLiterals})
			e.Observe(query(fast, "", 0, time.Millisecond))
			e.Observe(query(slow, "", 0, 9*time.Millisecond))
			e.Observe(query(fast, "", 0, 2*time.Millisecond))
			d := flush(t, e).Digests[0]
			assert.NotContains(t, d.Fingerprint, "slow")
			if logLiterals {
				assert.Equal(t, slow, d.SampleRaw, "the slowest statement is the sample")
			} else {
				assert.Empty(t, d.SampleRaw)
			}
		})
	}
}

func TestBoundedUsers(t *testing.T) {
	e := startEngine(t, stats.Config{})
	for i := range stats.MaxUsers * 3 {
		ev := query("SELECT 1", "", 0, time.Millisecond)
		ev.User = "user" + strconv.Itoa(i)
		e.Observe(ev)
	}
	d := flush(t, e).Digests[0]
	assert.Len(t, d.Users, stats.MaxUsers)
	assert.True(t, d.UsersTruncated)
}

func TestSnapshotsAreImmutable(t *testing.T) {
	e := startEngine(t, stats.Config{})
	e.Observe(query("SELECT 1", "", 0, time.Millisecond))
	e.Observe(query("SELECT x FROM t", "", 0, time.Millisecond))
	s1 := flush(t, e)
	before := find(s1, "SELECT 1", "")
	count := before.Count
	e.Observe(query("SELECT 1", "", 0, time.Millisecond))
	s2 := flush(t, e)
	assert.Equal(t, count, before.Count, "a published entry never changes")
	assert.Equal(t, count+1, find(s2, "SELECT 1", "").Count)
	assert.Same(t, find(s1, "SELECT x FROM t", ""), find(s2, "SELECT x FROM t", ""),
		"unchanged entries are shared between snapshots")
	assert.Greater(t, s2.Seq, s1.Seq)
}

// TestMemoryFlat feeds a million statements of one shape with distinct
// literal values: one digest is tracked and the heap does not grow with
// the number of distinct values. With -short or -race it feeds 100,000.
func TestMemoryFlat(t *testing.T) {
	n := 1_000_000
	if testing.Short() || raceEnabled {
		n = 100_000
	}
	e := startEngine(t, stats.Config{})
	const batch = 8192
	var heapAfterWarmup uint64
	buf := make([]byte, 0, 128)
	for i := range n {
		buf = append(buf[:0], "SELECT * FROM orders WHERE id = "...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, " AND note = 'n"...)
		buf = strconv.AppendInt(buf, int64(i)*7919, 36)
		buf = append(buf, "'"...)
		ev := query(string(buf), "shop", time.Duration(i)*time.Microsecond, time.Duration(1+i%5000)*time.Microsecond)
		ev.User = "user" + strconv.Itoa(i%1000) // many users: the set stays bounded
		e.Observe(ev)
		if i%batch == batch-1 {
			s := flush(t, e)
			require.Len(t, s.Digests, 1)
			if i/batch == 2 {
				heapAfterWarmup = heapInUse()
			}
		}
	}
	s := flush(t, e)
	require.Zero(t, e.Dropped(), "flushing every batch keeps the queue from overflowing")
	require.Len(t, s.Digests, 1)
	assert.Equal(t, uint64(n), s.Digests[0].Count)
	assert.Len(t, s.Digests[0].Users, stats.MaxUsers)
	assert.Zero(t, s.OverflowEvents)
	growth := int64(heapInUse()) - int64(heapAfterWarmup)
	assert.Less(t, growth, int64(8<<20), "heap grew by %d bytes", growth)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestMemoryBoundedShapes: 100,000 distinct statement shapes against the
// default MaxDigests (5000). Past the bound new shapes fold into the
// overflow entry, counted, and the heap stops growing; the heap held by the
// 5000 tracked digests is logged (README: memory bound).
func TestMemoryBoundedShapes(t *testing.T) {
	const shapes = 100_000
	base := heapInUse()
	e := startEngine(t, stats.Config{})
	var heapAtBound uint64
	for i := range shapes {
		sql := "SELECT c" + strconv.Itoa(i) + " FROM t" + strconv.Itoa(i%97) + " WHERE id = " + strconv.Itoa(i)
		e.Observe(query(sql, "shop", time.Duration(i)*time.Microsecond, time.Duration(1+i%900)*time.Microsecond))
		if i%4096 == 4095 {
			flush(t, e)
		}
		if i == stats.DefaultMaxDigests+4096 {
			flush(t, e)
			heapAtBound = heapInUse()
		}
	}
	s := flush(t, e)
	require.Zero(t, e.Dropped())
	assert.Len(t, s.Digests, stats.DefaultMaxDigests)
	assert.Equal(t, uint64(shapes-stats.DefaultMaxDigests), s.OverflowEvents, "folded statements are counted")
	assert.Equal(t, uint64(shapes-stats.DefaultMaxDigests), s.Overflow.Count)
	end := heapInUse()
	growth := int64(end) - int64(heapAtBound)
	t.Logf("heap: %.1f MiB for %d tracked digests (incl. the published snapshot); growth over the last %d shapes: %d KiB",
		float64(end-min(base, end))/(1<<20), len(s.Digests), shapes-stats.DefaultMaxDigests-4096, growth>>10)
	assert.Less(t, growth, int64(8<<20), "no growth once the bound is reached")
}

// TestTruncatedSQLFlagged: a statement the proxy cut at its SQL cap is
// flagged, since its shape may differ from the whole statement's.
func TestTruncatedSQLFlagged(t *testing.T) {
	e := startEngine(t, stats.Config{})
	ev := query("INSERT INTO blobs (id, b) VALUES (1, 0x0102", "shop", 0, time.Millisecond)
	ev.SQLTruncated, ev.SQLLength = true, 40<<20
	e.Observe(ev)
	s := flush(t, e)
	require.Len(t, s.Digests, 1)
	assert.True(t, s.Digests[0].FingerprintTruncated)
}

func TestObserveWaitNeverDrops(t *testing.T) {
	cfg := stats.DefaultConfig()
	cfg.QueueSize = 4
	e, err := stats.New(cfg, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	const n = 1000
	for i := range n {
		require.NoError(t, e.ObserveWait(context.Background(), &protocol.Event{
			Command: protocol.ComQuery, SQL: "select " + strconv.Itoa(i),
		}))
	}
	require.NoError(t, e.Flush(context.Background()))
	snap := e.Snapshot()
	assert.Zero(t, snap.DroppedEvents)
	assert.EqualValues(t, n, snap.Events)
	cancel()
	<-done
	assert.ErrorIs(t, e.ObserveWait(context.Background(), &protocol.Event{Command: protocol.ComPing}), stats.ErrStopped)

	stopped, cancelWait := context.WithCancel(context.Background())
	cancelWait()
	e2, err := stats.New(cfg, nil)
	require.NoError(t, err)
	for range cfg.QueueSize {
		e2.Observe(&protocol.Event{Command: protocol.ComPing})
	}
	assert.ErrorIs(t, e2.ObserveWait(stopped, &protocol.Event{Command: protocol.ComPing}), context.Canceled)
}
