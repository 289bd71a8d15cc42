package stats

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/querylens/querylens/fingerprint"
	"github.com/querylens/querylens/protocol"
)

// ErrStopped is returned by Flush once Run has returned.
var ErrStopped = errors.New("stats: engine stopped")

// drainBatch is how many queued events the writer applies between two looks
// at its other channels.
const drainBatch = 256

// dropLogInterval rate-limits the warning about dropped events.
const dropLogInterval = 10 * time.Second

// Engine aggregates events per (digest, schema). Observe, Flush, Snapshot
// and Reset are safe for concurrent use; Run is the single writer goroutine
// that owns all mutable state and publishes immutable Snapshots.
type Engine struct {
	cfg Config
	log *zap.Logger

	events  chan item
	full    chan struct{} // a producer found events full: drain now
	flushes chan chan struct{}
	stopped chan struct{} // closed when Run returns

	dropped  atomic.Uint64
	resetGen atomic.Uint64
	running  atomic.Bool
	snap     atomic.Pointer[Snapshot]

	w *writer // owned by the Run goroutine (by New before it starts)
	// spent holds applied events until they are given back in a batch
	// (Config.RecycleEvents); owned by the Run goroutine.
	spent []*protocol.Event
}

// spentBatch is how many applied events the writer gives back at once.
const spentBatch = 64

// New returns an Engine with cfg's zero fields set to their defaults. It
// publishes an empty snapshot, so Snapshot never returns nil; aggregation
// starts when Run does. A nil log discards logs.
func New(cfg Config, log *zap.Logger) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	e := &Engine{
		cfg:     cfg,
		log:     log,
		events:  make(chan item, cfg.QueueSize),
		full:    make(chan struct{}, 1),
		flushes: make(chan chan struct{}),
		stopped: make(chan struct{}),
	}
	e.w = newWriter(cfg, log)
	e.publish()
	return e, nil
}

// Observe queues ev for the writer and returns at once. It never blocks:
// when the queue is full the event is dropped and counted
// (Snapshot.DroppedEvents, querylens_events_dropped_total). The engine takes
// ownership of ev; the caller must not modify it afterwards. Observe is safe
// to call from any goroutine, before, during and after Run.
func (e *Engine) Observe(ev *protocol.Event) {
	if ev == nil {
		return
	}
	select {
	case e.events <- item{ev: ev}:
	default:
		e.dropped.Add(1)
		e.wake()
	}
}

// wake asks the writer to drain the queue now rather than at its next
// poll: a producer found the queue full.
func (e *Engine) wake() {
	select {
	case e.full <- struct{}{}:
	default:
	}
}

// item is what the queue carries: an event, or the end of a connection.
type item struct {
	ev     *protocol.Event
	closed bool // ev names the connection (ClientAddr, ConnID) and when it ended (End)
}

// ObserveClose tells the engine that a connection (its client address and
// server connection id, as in its events) ended at at, after its last
// event: the units of work it was part of can end. Like Observe it never
// blocks; a dropped close is made up for by the idle gap.
func (e *Engine) ObserveClose(clientAddr string, connID uint32, at time.Time) {
	select {
	case e.events <- item{ev: &protocol.Event{ClientAddr: clientAddr, ConnID: connID, End: at}, closed: true}:
	default:
		e.dropped.Add(1)
		e.wake()
	}
}

// ObserveCloseWait is ObserveClose for producers that can wait (see
// ObserveWait).
func (e *Engine) ObserveCloseWait(ctx context.Context, clientAddr string, connID uint32, at time.Time) error {
	return e.enqueue(ctx, item{ev: &protocol.Event{ClientAddr: clientAddr, ConnID: connID, End: at}, closed: true})
}

// ObserveWait queues ev like Observe but waits for room instead of
// dropping it, for producers that can be slowed down (offline analysis of a
// capture). It returns ctx.Err() if ctx ends first and ErrStopped once Run
// has returned; ev is then not counted.
func (e *Engine) ObserveWait(ctx context.Context, ev *protocol.Event) error {
	if ev == nil {
		return nil
	}
	return e.enqueue(ctx, item{ev: ev})
}

func (e *Engine) enqueue(ctx context.Context, it item) error {
	select {
	case <-e.stopped:
		return ErrStopped
	default:
	}
	select {
	case e.events <- it:
		return nil
	default:
		e.wake()
	}
	select {
	case e.events <- it:
		return nil
	case <-e.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Dropped returns the number of events Observe dropped so far.
func (e *Engine) Dropped() uint64 { return e.dropped.Load() }

// Snapshot returns the latest published snapshot. It is never nil and must
// not be modified.
func (e *Engine) Snapshot() *Snapshot { return e.snap.Load() }

// Reset discards all per-digest aggregates; engine-wide counters (commands,
// events, drops, overflow) keep counting. It returns at once: the writer
// applies it before the next event it takes from the queue, so events still
// queued when Reset is called may count in the new aggregates. Call Flush to
// wait until a snapshot reflects it.
func (e *Engine) Reset() { e.resetGen.Add(1) }

// Flush returns once every event Observed before the call has been applied
// and a snapshot including them has been published. It returns ctx.Err()
// if ctx ends first (for example because Run has not started), and
// ErrStopped once Run has returned.
func (e *Engine) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case e.flushes <- done:
	case <-e.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run is the writer: it applies queued events, publishes a snapshot every
// PublishInterval when something changed, and answers Flush. When ctx is
// done it applies the events queued at that moment, publishes a final
// snapshot and returns. Run must be called once.
func (e *Engine) Run(ctx context.Context) {
	if !e.running.CompareAndSwap(false, true) {
		panic("stats: Engine.Run called twice")
	}
	defer close(e.stopped)
	t := time.NewTicker(e.cfg.PublishInterval)
	defer t.Stop()
	// While events keep coming the writer takes them in batches, every
	// pollInterval, instead of parking on the queue: a goroutine parked
	// on a channel is woken by every send, and that wake-up costs the
	// relay goroutines more than handing over the event itself; a
	// producer that finds the queue full wakes it at once (wake). After
	// pollIdleRounds empty polls it parks again, so an idle proxy sleeps.
	poll := time.NewTimer(pollInterval)
	poll.Stop()
	polling, idle := false, 0
	for {
		var events <-chan item
		var pollC <-chan time.Time
		if polling {
			pollC = poll.C
		} else {
			events = e.events
		}
		select {
		case it := <-events:
			e.w.tick()
			e.apply(it)
			e.drain(drainBatch - 1)
			e.recycle()
			polling, idle = true, 0
			poll.Reset(pollInterval)
		case <-pollC:
			if len(e.events) > 0 {
				e.drainAll()
				e.recycle()
				idle = 0
			} else if idle++; idle >= pollIdleRounds {
				polling = false
				continue
			}
			poll.Reset(pollInterval)
		case <-e.full:
			e.drainAll()
			e.recycle()
			polling, idle = true, 0
			poll.Reset(pollInterval)
		case req := <-e.flushes:
			e.flush(req)
		case <-t.C:
			e.checkReset()
			e.w.sweep()
			if e.w.dirty {
				e.publish()
			}
		case <-ctx.Done():
			e.stop()
			return
		}
	}
}

// stop applies the events queued now, ends every open unit of work (so
// that the final snapshot holds every finding) and publishes.
func (e *Engine) stop() {
	e.checkReset()
	e.w.tick()
	for range len(e.events) {
		e.apply(<-e.events)
	}
	e.recycle()
	e.w.find.finish()
	e.publish()
}

// Polling of the queue while it is busy (see Run): every 40 ms, and back
// to parking after 120 ms without an event. Each poll wakes the writer (and
// often a thread for it), whose maps and histograms have gone cold in the
// meantime; the longer the batch, the more events share that cost. Under
// sysbench's read/write mix at 32 threads, polling every 1 ms cost 6 % more
// relay CPU per query than every 5 ms, and 5 ms 2.4 % more than 10 ms; at
// 40 ms the statistics took 3.8 to 4.1 % of the relay's samples against 5.2
// to 5.7 % at 10 ms, and the scheduler 4.7 against 5.2 to 5.6 %. The queue
// holds 65,536 events by default: 40 ms of 1.6 million queries a second.
const (
	pollInterval   = 40 * time.Millisecond
	pollIdleRounds = 3
)

// drainAll applies the events queued now, reading the clock once per
// batch.
func (e *Engine) drainAll() {
	for n := len(e.events); n > 0; n -= drainBatch {
		e.w.tick()
		e.drain(min(n, drainBatch))
	}
}

// drain applies up to n queued events without waiting for more.
func (e *Engine) drain(n int) {
	for range n {
		select {
		case it := <-e.events:
			e.apply(it)
		default:
			return
		}
	}
}

// flush answers first (when not nil) and every other flush request already
// waiting: it applies the events queued when it starts, which include all
// events Observed before those Flush calls, then publishes.
func (e *Engine) flush(first chan struct{}) {
	var reqs []chan struct{}
	if first != nil {
		reqs = append(reqs, first)
	}
	for more := true; more; {
		select {
		case r := <-e.flushes:
			reqs = append(reqs, r)
		default:
			more = false
		}
	}
	e.checkReset()
	e.w.tick()
	for range len(e.events) {
		e.apply(<-e.events)
	}
	e.w.sweep()
	e.recycle()
	e.publish()
	for _, r := range reqs {
		close(r)
	}
}

// apply hands one event to the writer, first applying a pending Reset. A
// panic while handling one event (a bug, say in fingerprinting an odd
// statement) skips that event and is counted: it must not take the writer,
// and with it the process and the relay, down.
func (e *Engine) apply(it item) {
	ev := it.ev
	defer func() {
		if r := recover(); r != nil {
			e.w.panics++
			if n := e.w.panics; n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th, ...
				e.log.Error("stats: event handling panicked; event skipped",
					zap.Stringer("command", ev.Command), zap.Uint64("panics", n),
					zap.Any("panic", r), zap.Stack("stack"))
			}
		}
	}()
	e.checkReset()
	if it.closed {
		e.w.closeConn(ev)
		return
	}
	e.w.apply(ev)
	if e.w.cfg.RecycleEvents { // not after a panic: what failed may still point at it
		if e.spent = append(e.spent, ev); len(e.spent) >= spentBatch {
			e.recycle()
		}
	}
}

// recycle gives the applied events back (Config.RecycleEvents).
func (e *Engine) recycle() {
	protocol.ReleaseAll(e.spent)
	clear(e.spent)
	e.spent = e.spent[:0]
}

func (e *Engine) checkReset() {
	if g := e.resetGen.Load(); g != e.w.resetSeen {
		e.w.resetSeen = g
		e.w.reset()
	}
}

// publish builds a snapshot from the writer's state and makes it current.
func (e *Engine) publish() {
	dropped := e.dropped.Load()
	e.w.logDrops(dropped)
	e.snap.Store(e.w.snapshot(dropped))
}

// writer is the state the Run goroutine owns.
type writer struct {
	cfg Config
	log *zap.Logger
	fp  *fingerprint.Fingerprinter

	find     *finder
	aggs     map[aggKey]*aggregate
	byDigest map[fingerprint.Digest]*aggregate // the entry of aggs last used per digest (see aggregate)
	overflow *aggregate
	infos    map[fingerprint.Digest]fingerprint.Info // Describe results, by digest
	since    time.Time

	commands       [256]uint64
	commandErrors  [256]uint64
	events         uint64
	overflowEvents uint64
	overflowLogged bool
	panics         uint64

	seq        uint64
	dirty      bool
	resetSeen  uint64
	dropLogged uint64
	dropLogAt  time.Time
}

func newWriter(cfg Config, log *zap.Logger) *writer {
	w := &writer{
		cfg:   cfg,
		log:   log,
		fp:    fingerprint.New(cfg.Fingerprint),
		find:  newFinder(cfg.Findings, cfg.LogLiterals),
		dirty: true,
	}
	w.reset()
	return w
}

// reset drops all per-digest state (the Describe cache with it, so that
// it stays bounded by MaxDigests).
func (w *writer) reset() {
	w.aggs = make(map[aggKey]*aggregate)
	w.byDigest = make(map[fingerprint.Digest]*aggregate)
	w.overflow = newOverflowAggregate()
	w.infos = make(map[fingerprint.Digest]fingerprint.Info)
	w.since = w.cfg.Now()
	w.overflowLogged = false
	if w.find != nil {
		w.find.reset()
	}
	w.dirty = true
}

// closeConn ends a connection for the finder.
func (w *writer) closeConn(ev *protocol.Event) {
	w.find.closeConn(connKey{ev.ClientAddr, ev.ConnID}, ev.End)
	w.dirty = w.dirty || w.find.dirty
}

// tick reads the engine's clock for the finder, once per batch of events.
func (w *writer) tick() { w.find.wall = w.cfg.Now() }

// sweep ends idle units of work by the wall clock (not in EventTime mode,
// where events are the only clock).
func (w *writer) sweep() {
	if !w.cfg.Findings.EventTime {
		w.find.sweep(w.cfg.Now())
	}
	w.dirty = w.dirty || w.find.dirty
}

// carriesStatement reports whether ev is aggregated per fingerprint.
func carriesStatement(ev *protocol.Event) bool {
	return ev.SQL != "" && statementSlot(ev.Command) >= 0
}

func (w *writer) apply(ev *protocol.Event) {
	w.count(ev)
	if !carriesStatement(ev) {
		w.find.observe(ev, nil, nil, 0)
		return
	}
	fp, cached := fingerprint.Fingerprint{}, false
	switch ev.Command {
	case protocol.ComStmtExecute, protocol.ComStmtFetch, protocol.ComStmtBulkExecute:
		fp, cached = w.find.prepared(ev)
	}
	if !cached {
		fp = w.fp.Fingerprint(ev.SQL)
	}
	w.applyStatement(ev, &fp)
}

// count updates the engine-wide counters for any event.
func (w *writer) count(ev *protocol.Event) {
	w.dirty = true
	w.events++
	w.commands[ev.Command]++
	if ev.ErrorCode != 0 {
		w.commandErrors[ev.Command]++
	}
}

// applyStatement aggregates a statement event (carriesStatement) whose
// fingerprint is fp, and hands it to the finder; it sets fp.Truncated when
// ev's SQL was cut. It is apply without the fingerprinting, which
// BenchmarkApplyFingerprinted measures on its own.
func (w *writer) applyStatement(ev *protocol.Event, fp *fingerprint.Fingerprint) {
	// A statement longer than the proxy's SQL cap arrives cut: its shape may
	// differ from the whole statement's, so say so.
	fp.Truncated = fp.Truncated || ev.SQLTruncated
	a := w.aggregate(fp, ev)
	at := ev.Sent
	if at.IsZero() {
		at = w.cfg.Now()
	}
	lat := ev.Latency() // once: Time.Sub is not free on times without a monotonic reading
	a.record(ev, fp.Tags, at, lat, w.cfg.LogLiterals)
	w.logQuery(ev, fp, lat)
	if a != w.overflow {
		w.find.observe(ev, fp, a, lat)
	} else {
		w.find.observe(ev, nil, nil, 0)
	}
}

// aggregate returns the aggregate of ev's (digest, schema), creating it
// when there is room and answering the overflow entry when there is not.
func (w *writer) aggregate(fp *fingerprint.Fingerprint, ev *protocol.Event) *aggregate {
	// byDigest first: hashing the 8-byte digest alone, and comparing the
	// schema, costs less than hashing the (digest, schema) key of aggs.
	if a := w.byDigest[fp.Digest]; a != nil && a.schema == ev.Schema {
		return a
	}
	k := aggKey{digest: fp.Digest, schema: ev.Schema}
	a := w.aggs[k]
	if a == nil {
		if len(w.aggs) >= w.cfg.MaxDigests {
			w.overflowEvents++
			if !w.overflowLogged {
				w.overflowLogged = true
				w.log.Warn("digest limit reached; statements of new digests are folded into the overflow entry",
					zap.Int("max_digests", w.cfg.MaxDigests))
			}
			return w.overflow // not in byDigest: its schema is not the key's
		}
		a = w.newAggregate(k, *fp, ev.SQL)
		w.aggs[k] = a
	}
	w.byDigest[fp.Digest] = a
	return a
}

func (w *writer) newAggregate(k aggKey, fp fingerprint.Fingerprint, sql string) *aggregate {
	k.schema = strings.Clone(k.schema)
	info, ok := w.infos[k.digest]
	if !ok {
		info = w.describe(k.digest, sql)
		w.infos[k.digest] = info
	}
	return &aggregate{
		digest:    k.digest.String(),
		schema:    k.schema,
		text:      fp.Text,
		truncated: fp.Truncated,
		info:      info,
		users:     boundedSet{limit: MaxUsers},
		dirty:     true,
	}
}

// describe runs the slow parser once per new digest. A panic in it must not
// take the writer (and with it all statistics) down.
func (w *writer) describe(d fingerprint.Digest, sql string) (info fingerprint.Info) {
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("fingerprint.Describe panicked", zap.Stringer("digest", d), zap.Any("panic", r))
			info = fingerprint.Info{ParseError: true}
		}
	}()
	info = fingerprint.Describe(sql)
	if info.ParseError {
		if c := w.log.Check(zap.DebugLevel, "statement not understood by the parser"); c != nil {
			c.Write(zap.Stringer("digest", d))
		}
	}
	return info
}

// snapshot builds an immutable Snapshot of the current state.
func (w *writer) snapshot(dropped uint64) *Snapshot {
	w.seq++
	s := &Snapshot{
		Version:        SnapshotVersion,
		Seq:            w.seq,
		Taken:          w.cfg.Now(),
		Since:          w.since,
		Digests:        make([]*DigestStats, 0, len(w.aggs)),
		Overflow:       w.overflow.snapshot(),
		MaxDigests:     w.cfg.MaxDigests,
		Commands:       commandCounts(&w.commands),
		CommandErrors:  commandCounts(&w.commandErrors),
		Events:         w.events,
		DroppedEvents:  dropped,
		OverflowEvents: w.overflowEvents,
		Panics:         w.panics,
	}
	w.find.publish(s)
	for _, a := range w.aggs {
		s.Digests = append(s.Digests, a.snapshot())
	}
	slices.SortFunc(s.Digests, compareByTotalTime)
	w.dirty = false
	return s
}

func commandCounts(c *[256]uint64) map[string]uint64 {
	m := make(map[string]uint64)
	for b, n := range c {
		if n != 0 {
			m[protocol.Command(b).String()] += n
		}
	}
	return m
}

// logDrops warns, at most every dropLogInterval, when events were dropped.
func (w *writer) logDrops(dropped uint64) {
	if dropped == w.dropLogged {
		return
	}
	now := w.cfg.Now()
	if !w.dropLogAt.IsZero() && now.Sub(w.dropLogAt) < dropLogInterval {
		return
	}
	w.log.Warn("stats queue full; events dropped",
		zap.Uint64("dropped", dropped-w.dropLogged), zap.Uint64("dropped_total", dropped),
		zap.Int("queue_size", w.cfg.QueueSize))
	w.dropLogged, w.dropLogAt = dropped, now
}
