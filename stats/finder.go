package stats

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/querylens/querylens/fingerprint"
	"github.com/querylens/querylens/protocol"
)

// The finder groups statements into units of work and looks, in each unit,
// for the patterns of FindingKinds. A unit is, in order of precedence:
//
//   - a transaction: from the statement whose response first reports the
//     server's "in transaction" status to the one whose response clears it;
//   - else the statements carrying one sqlcommenter traceparent trace id,
//     on any number of connections, until the trace is idle for TraceGap;
//   - else a burst on one connection, ended by UnitGap of client idle time
//     or by MaxUnitDuration. Short connections opened one after another by
//     one client host and user (and no other connection of theirs open)
//     continue one burst: a handler that connects per query is one unit.
//
// Everything here runs on the engine's writer goroutine.

// statusInTrans is SERVER_STATUS_IN_TRANS.
const statusInTrans = 0x0001

type connKey struct {
	client string
	id     uint32
}

type clientKey struct{ host, user string }

type unitKind uint8

const (
	unitBurst unitKind = iota
	unitTx
	unitTrace
)

func (k unitKind) String() string {
	switch k {
	case unitTx:
		return "transaction"
	case unitTrace:
		return "trace"
	}
	return "burst"
}

// unit is one unit of work being collected.
type unit struct {
	kind   unitKind
	trace  string
	connID uint32
	client string
	user   string
	start  time.Time
	last   time.Time // end of its last response (or send, when unknown)
	seen   time.Time // wall clock (finder.wall) when it last changed
	n      uint64

	digests   map[fingerprint.Digest]*unitDigest
	order     []*unitDigest
	recent    [4]source // recent SELECTs that returned at least MinLoop rows, newest last
	rows      rowTable
	tags      []string
	truncated bool

	// Transactions only.
	idle      time.Duration
	maxIdle   time.Duration
	first     *unitDigest // first statement that is not BEGIN or SET
	closedAtE time.Time
}

type source struct {
	digest fingerprint.Digest
	text   string
	schema string
	rows   uint64
}

// unitDigest is what a unit knows about one statement shape in it.
type unitDigest struct {
	digest   fingerprint.Digest
	text     string
	schema   string
	kind     string
	count    int
	dur      time.Duration
	first    time.Time
	known    int           // executions whose argument values are known
	v0       uint64        // the first executions's values
	vals     valueCounts   // per value count, from the second distinct value on
	maxSame  int32         // most executions with one value
	v0dur    time.Duration // time of the executions with v0, before vals
	srcs     [4]source
	nsrcs    int
	keys     *keyInfo
	agg      *aggregate // counts the units the statement ran in
	varied   uint8      // bit j: key j took more than one value
	key0     [4]uint64
	examples []exampleRef
}

type exampleRef struct {
	sql    string
	params []protocol.Param
}

// rowKey names a row: the hash of its table and key column, and of the
// key's value.
type rowKey struct{ column, value uint64 }

type rowAccess struct {
	key     rowKey
	table   string
	col     string
	count   int
	dur     time.Duration
	digests [4]*unitDigest
	nd      int
	value   string // for examples, with LogLiterals
}

// keyInfo says which literals of a statement shape are values of equality
// predicates on a column in its WHERE clause (col = ?), and of which table.
type keyInfo struct {
	table  string
	cols   []string
	hashes []uint64 // of table and column, per key
	lits   []int    // index of the literal, in source order
}

type stmtState struct {
	id       uint32                  // its key in connState.stmts
	fp       fingerprint.Fingerprint // of the prepared SQL, reused by each execution
	sqlLen   int
	digest   fingerprint.Digest
	text     string
	schema   string
	executes int
	prepare  time.Duration
	paramOf  []int8 // per literal index of the prepared SQL: its parameter number, or -1
}

type connState struct {
	key        connKey
	client     clientKey
	connID     uint32
	opened     time.Time
	statements uint64
	lastEnd    time.Time
	burst      *unit
	tx         *unit
	stmts      stmtMap
	openByText map[fingerprint.Digest]int
	leaked     bool
}

type clientState struct {
	opened, closed, closedStmts uint64
	handshake                   time.Duration
	first, last                 time.Time
	open                        int
	parked                      *unit
	recent                      []FindingExample
}

type findingKey struct {
	kind           string
	digest, source fingerprint.Digest
	schema         string
	extra          string // table.col for row round trips, user@host for churn
}

type findingAgg struct {
	key           findingKey
	stmt          *aggregate // the statement's aggregate, for UnitsSeen
	text, srcText string
	related       []string
	executions    uint64
	units         uint64
	dur           time.Duration
	saving        time.Duration
	suggestion    string
	first, last   time.Time
	tags          []string
	examples      []FindingExample
	visible       bool
}

type prepStats struct {
	text             string
	schema           string
	prepares, single uint64
	singleDur        time.Duration
	reprepares       uint64
	first, last      time.Time
	examples         []FindingExample
}

type finder struct {
	cfg         FindingsConfig
	logLiterals bool

	conns    map[connKey]*connState
	byID     *[1024]*connState // direct-mapped by id: an entry of conns, the one last used (see lookupConn)
	traces   map[string]*unit
	clients  map[clientKey]*clientState
	keys     map[fingerprint.Digest]*keyInfo
	findings map[findingKey]*findingAgg
	prep     map[fingerprint.Digest]*prepStats

	tx       TransactionStats
	restored []*Finding // from a state file, merged into every list
	clock    time.Time  // latest event time
	wall     time.Time  // the engine's clock (Config.Now), set before each batch of events
	swept    time.Time
	dirty    bool
	scratch  []byte

	valueTables valueSlotPool // for unitDigest.vals
	// Units and their statements, kept for reuse once closed: a
	// transaction of twenty statements would otherwise allocate some
	// thirty times (the unit, its map and lists, one entry per shape).
	freeUnits   []*unit
	freeDigests []*unitDigest
	freeRows    []*rowAccess

	// What prepared found for the EXECUTE being applied, so that statement
	// need not look up its connection and statement again. Cleared at the
	// end of observe: events are reused.
	found struct {
		ev *protocol.Event
		cs *connState
		st *stmtState
	}

	// Monotonic, never reset: exported as Prometheus counters.
	created [len(kindIndex)]uint64
	flagged [len(kindIndex)]uint64
	dropped uint64
}

var kindIndex = [...]string{
	KindNPlusOne, KindRepeatedRead, KindRowRoundTrips, KindConnectionChurn,
	KindPreparePerExecute, KindUnclosedStatements, KindReprepare,
	KindLongTransaction, KindIdleInTransaction,
}

func kindSlot(kind string) int { return slices.Index(kindIndex[:], kind) }

func newFinder(cfg FindingsConfig, logLiterals bool) *finder {
	f := &finder{cfg: cfg.withDefaults(), logLiterals: logLiterals}
	f.reset()
	return f
}

// reset drops every unit and finding; the monotonic counters stay.
func (f *finder) reset() {
	f.conns = map[connKey]*connState{}
	f.byID = new([1024]*connState)
	f.traces = map[string]*unit{}
	f.clients = map[clientKey]*clientState{}
	f.keys = map[fingerprint.Digest]*keyInfo{}
	f.findings = map[findingKey]*findingAgg{}
	f.prep = map[fingerprint.Digest]*prepStats{}
	f.tx = TransactionStats{}
	f.restored = nil
	f.dirty = true
}

// restore loads what a snapshot knew (Engine.Restore).
func (f *finder) restore(s *Snapshot) {
	f.restored = mergeFindings(s.Findings)
	f.tx.merge(&s.Transactions)
	for i, k := range kindIndex {
		f.created[i] += s.FindingsCreated[k]
		f.flagged[i] += s.FindingUnits[k]
	}
	f.dropped += s.FindingsDropped
	f.dirty = true
}

func eventTime(ev *protocol.Event) time.Time {
	if !ev.End.IsZero() {
		return ev.End
	}
	return ev.Sent
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// hostOf returns the host of a "host:port" or "[v6]:port" client address
// (a unix socket path stays as it is).
func hostOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 || strings.HasPrefix(addr, "/") {
		return addr
	}
	return strings.TrimSuffix(strings.TrimPrefix(addr[:i], "["), "]")
}

// conn returns the state of ev's connection, creating it when the
// connection's login was not seen (a capture that starts mid-session).
func (f *finder) conn(ev *protocol.Event) *connState {
	cs := f.lookupConn(ev.ClientAddr, ev.ConnID)
	if cs == nil {
		if len(f.conns) >= maxOpenUnits {
			f.dropped++
			return nil
		}
		k := connKey{ev.ClientAddr, ev.ConnID}
		ck := clientKey{hostOf(ev.ClientAddr), ev.User}
		cs = &connState{key: k, client: ck, connID: ev.ConnID, opened: ev.Sent}
		f.conns[k] = cs
		f.byID[k.id%uint32(len(f.byID))] = cs
		if cl := f.client(ck); cl != nil {
			cl.open++
		}
	}
	return cs
}

// lookupConn returns the state of the connection (client, id), or nil.
func (f *finder) lookupConn(client string, id uint32) *connState {
	// byID first: indexing by the id and comparing the address costs less
	// than hashing the (address, id) key of conns. Ids are the server's
	// thread ids, numbered in turn, so the open connections rarely share a
	// slot; when they do, conns decides.
	slot := &f.byID[id%uint32(len(f.byID))]
	if cs := *slot; cs != nil && cs.key.id == id && cs.key.client == client {
		return cs
	}
	cs := f.conns[connKey{client, id}]
	if cs != nil {
		*slot = cs
	}
	return cs
}

func (f *finder) client(k clientKey) *clientState {
	cl := f.clients[k]
	if cl == nil {
		if len(f.clients) >= maxClients {
			f.dropped++
			return nil
		}
		cl = &clientState{}
		f.clients[k] = cl
	}
	return cl
}

// observe takes every event; fp and a are set for statement events (a is
// nil for the overflow aggregate), and then lat is ev.Latency(), which the
// writer has already worked out.
func (f *finder) observe(ev *protocol.Event, fp *fingerprint.Fingerprint, a *aggregate, lat time.Duration) {
	if t := eventTime(ev); t.After(f.clock) {
		f.clock = t
	}
	switch ev.Command {
	case protocol.ComConnect:
		f.connect(ev)
	case protocol.ComQuit:
		f.closeConn(connKey{ev.ClientAddr, ev.ConnID}, eventTime(ev))
	case protocol.ComChangeUser, protocol.ComResetConnection:
		if cs := f.lookupConn(ev.ClientAddr, ev.ConnID); cs != nil {
			f.dropStatements(cs)
		}
	case protocol.ComStmtPrepare:
		if fp != nil && a != nil {
			f.prepare(ev, fp, a)
		}
	case protocol.ComStmtClose:
		f.closeStatement(ev)
	case protocol.ComQuery, protocol.ComStmtExecute:
		if fp != nil && a != nil {
			f.statement(ev, fp, a, lat)
		}
	}
	f.found.ev, f.found.cs, f.found.st = nil, nil, nil
	if f.cfg.EventTime && f.clock.Sub(f.swept) >= f.cfg.UnitGap/2 {
		f.sweep(f.clock)
	}
}

func (f *finder) connect(ev *protocol.Event) {
	if ev.ErrorCode != 0 || ev.Incomplete {
		return
	}
	cs := f.conn(ev)
	if cs == nil {
		return
	}
	cs.opened = ev.Sent
	cl := f.clients[cs.client]
	if cl == nil {
		return
	}
	cl.opened++
	cl.handshake += ev.Latency()
	if cl.first.IsZero() || ev.Sent.Before(cl.first) {
		cl.first = ev.Sent
	}
	cl.last = later(cl.last, eventTime(ev))
}

// closeConn ends a connection: its units end, its statements are closed.
func (f *finder) closeConn(k connKey, at time.Time) {
	cs := f.conns[k]
	if cs == nil {
		return
	}
	delete(f.conns, k)
	if slot := &f.byID[k.id%uint32(len(f.byID))]; *slot == cs {
		*slot = nil
	}
	if cs.tx != nil {
		f.closeUnit(cs.tx)
		cs.tx = nil
	}
	cl := f.clients[cs.client]
	if cl != nil {
		cl.open--
		cl.closed++
		cl.closedStmts += cs.statements
		cl.last = later(cl.last, at)
		if len(cl.recent) >= MaxFindingExamples {
			cl.recent = slices.Delete(cl.recent, 0, 1)
		}
		cl.recent = append(cl.recent, FindingExample{
			Unit: "connection", ConnID: cs.connID, User: cs.client.user, Client: cs.key.client,
			Executions: cs.statements, Seconds: at.Sub(cs.opened).Seconds(), At: cs.opened,
			Detail: fmt.Sprintf("%d statements in %s", cs.statements, at.Sub(cs.opened).Round(time.Microsecond)),
		})
	}
	if u := cs.burst; u != nil {
		// A short connection (a few statements, as a handler that
		// connects per query runs) may be continued by the client's next
		// one; a longer one was a unit of its own.
		if cl != nil && float64(cs.statements) <= f.cfg.ChurnMaxStatements {
			if cl.parked != nil && cl.parked != u {
				f.closeUnit(cl.parked)
			}
			cl.parked = u // the client's next connection may continue it
			u.seen = f.wall
		} else {
			f.closeUnit(u)
		}
		cs.burst = nil
	}
	f.dropStatements(cs)
	f.dirty = true
}

// dropStatements forgets a connection's prepared statements (its end,
// COM_CHANGE_USER, COM_RESET_CONNECTION).
func (f *finder) dropStatements(cs *connState) {
	cs.stmts, cs.openByText = stmtMap{}, nil
}

func (f *finder) prepare(ev *protocol.Event, fp *fingerprint.Fingerprint, a *aggregate) {
	if ev.ErrorCode != 0 || ev.Incomplete {
		return
	}
	cs := f.conn(ev)
	if cs == nil {
		return
	}
	ps := f.prep[fp.Digest]
	if ps == nil {
		if len(f.prep) >= maxSeenDigests {
			f.dropped++
			return
		}
		ps = &prepStats{text: a.text, schema: a.schema, first: ev.Sent}
		f.prep[fp.Digest] = ps
	}
	ps.prepares++
	ps.last = eventTime(ev)
	if cs.openByText == nil {
		cs.openByText = map[fingerprint.Digest]int{}
	}
	if cs.openByText[fp.Digest] > 0 {
		ps.reprepares++
		if len(ps.examples) < MaxFindingExamples {
			ps.examples = append(ps.examples, FindingExample{
				Unit: "connection", ConnID: cs.connID, User: ev.User, Client: ev.ClientAddr,
				Executions: uint64(cs.openByText[fp.Digest]) + 1, At: ev.Sent,
				Detail: fmt.Sprintf("prepared again while %d statement(s) of the same text are open", cs.openByText[fp.Digest]),
			})
		}
		f.dirty = true
	}
	st := &stmtState{fp: *fp, sqlLen: len(ev.SQL), digest: fp.Digest, text: a.text, schema: a.schema, prepare: ev.Latency()}
	if k := f.keyInfo(fp.Digest, a); k != nil {
		st.paramOf = paramMap(ev.SQL)
	}
	if old := cs.stmts.get(ev.StmtID); old != nil {
		cs.openByText[old.digest]--
	}
	cs.stmts.put(ev.StmtID, st)
	cs.openByText[fp.Digest]++
	if cs.stmts.len() > f.cfg.MaxOpenStatements && !cs.leaked {
		cs.leaked = true
		f.record(findingKey{kind: KindUnclosedStatements, digest: fp.Digest, schema: a.schema}, a, a.text, "",
			uint64(cs.stmts.len()), 0, 0, ev.Sent, nil, FindingExample{
				Unit: "connection", ConnID: cs.connID, User: ev.User, Client: ev.ClientAddr,
				Executions: uint64(cs.stmts.len()), At: ev.Sent,
				Detail: fmt.Sprintf("%d prepared statements open at once on one connection", cs.stmts.len()),
			})
	}
}

// prepared returns the fingerprint of the statement an EXECUTE, FETCH or
// BULK_EXECUTE names, when its PREPARE was seen on the connection: a
// prepared statement is normalized once, not per execution.
func (f *finder) prepared(ev *protocol.Event) (fingerprint.Fingerprint, bool) {
	cs := f.lookupConn(ev.ClientAddr, ev.ConnID)
	if cs == nil {
		return fingerprint.Fingerprint{}, false
	}
	st := cs.stmts.get(ev.StmtID)
	f.found.ev, f.found.cs, f.found.st = ev, cs, st
	if st == nil || st.sqlLen != len(ev.SQL) || st.fp.Digest == 0 {
		return fingerprint.Fingerprint{}, false
	}
	return st.fp, true
}

// paramMap maps each literal of a prepared statement's SQL to its
// parameter number ('?' placeholders) or -1 (a constant).
func paramMap(sql string) []int8 {
	lits := fingerprint.Literals(sql, 64)
	m := make([]int8, len(lits))
	p := int8(0)
	for i, l := range lits {
		if l == "?" {
			m[i] = p
			p++
		} else {
			m[i] = -1
		}
	}
	return m
}

func (f *finder) closeStatement(ev *protocol.Event) {
	cs := f.lookupConn(ev.ClientAddr, ev.ConnID)
	if cs == nil {
		return
	}
	st := cs.stmts.get(ev.StmtID)
	if st == nil {
		return
	}
	cs.stmts.remove(ev.StmtID)
	cs.openByText[st.digest]--
	if st.executes <= 1 {
		if ps := f.prep[st.digest]; ps != nil {
			ps.single++
			ps.singleDur += st.prepare
			ps.last = eventTime(ev)
			f.dirty = true
		}
	}
}

// statement adds a COM_QUERY or COM_STMT_EXECUTE, which took lat, to its
// unit.
func (f *finder) statement(ev *protocol.Event, fp *fingerprint.Fingerprint, a *aggregate, lat time.Duration) {
	var cs *connState
	var st *stmtState
	if f.found.ev == ev {
		cs, st = f.found.cs, f.found.st
	} else {
		if cs = f.conn(ev); cs == nil {
			return
		}
		if ev.Command == protocol.ComStmtExecute {
			st = cs.stmts.get(ev.StmtID)
		}
	}
	cs.statements++
	if st != nil && ev.Command == protocol.ComStmtExecute {
		st.executes++
	}
	inTx := cs.tx != nil
	if ev.ErrorCode == 0 && !ev.Incomplete {
		inTx = ev.Status&statusInTrans != 0
	}
	trace := traceID(fp.Tags)
	var u *unit
	switch {
	case inTx || cs.tx != nil:
		if cs.tx == nil {
			if cs.burst != nil {
				f.closeUnit(cs.burst)
				cs.burst = nil
			}
			cs.tx = f.newUnit(unitTx, ev)
		} else if !cs.lastEnd.IsZero() && ev.Sent.After(cs.lastEnd) {
			idle := ev.Sent.Sub(cs.lastEnd)
			cs.tx.idle += idle
			cs.tx.maxIdle = max(cs.tx.maxIdle, idle)
		}
		u = cs.tx
	case trace != "":
		u = f.traces[trace]
		if u == nil {
			if len(f.traces) >= maxOpenUnits {
				f.dropped++
				return
			}
			u = f.newUnit(unitTrace, ev)
			u.trace = trace
			f.traces[trace] = u
		}
	default:
		if u = cs.burst; u != nil && (ev.Sent.Sub(u.last) > f.cfg.UnitGap || ev.Sent.Sub(u.start) > f.cfg.MaxUnitDuration || u.n >= maxUnitStmts) {
			f.closeUnit(u)
			u = nil
		}
		if u == nil && cs.statements == 1 {
			// A connection whose first statement follows, within the gap,
			// the end of the same client's previous connection continues
			// its burst: a handler that connects per query.
			if cl := f.clients[cs.client]; cl != nil && cl.parked != nil && ev.Sent.Sub(cl.parked.last) <= f.cfg.UnitGap {
				u, cl.parked = cl.parked, nil
				cs.burst = u
			}
		}
		if u == nil {
			u = f.newUnit(unitBurst, ev)
			cs.burst = u
		}
	}
	f.add(u, ev, fp, a, st, lat)
	if t := eventTime(ev); t.After(cs.lastEnd) {
		cs.lastEnd = t
	}
	if u.kind == unitTx && !inTx {
		f.closeUnit(u)
		cs.tx = nil
	}
}

// traceID returns the trace id of a sqlcommenter traceparent
// ("00-<trace id>-<span id>-<flags>"), or "".
func traceID(tags []fingerprint.Tag) string {
	for _, t := range tags {
		if t.Key != "traceparent" {
			continue
		}
		parts := strings.Split(t.Value, "-")
		if len(parts) >= 3 && len(parts[1]) == 32 {
			return parts[1]
		}
		return t.Value
	}
	return ""
}

func (f *finder) newUnit(kind unitKind, ev *protocol.Event) *unit {
	u := takeFree(&f.freeUnits)
	u.kind, u.connID, u.client, u.user = kind, ev.ConnID, ev.ClientAddr, ev.User
	u.start, u.last = ev.Sent, ev.Sent
	return u
}

// newUnitDigest returns a zeroed unitDigest, reused when one is free.
func (f *finder) newUnitDigest() *unitDigest { return takeFree(&f.freeDigests) }

// newRow returns a zeroed rowAccess, reused when one is free.
func (f *finder) newRow() *rowAccess { return takeFree(&f.freeRows) }

// takeFree pops the last entry of a free list (entries are reset when put
// there), or returns a new zero value when the list is empty.
func takeFree[T any](free *[]*T) *T {
	n := len(*free)
	if n == 0 {
		return new(T)
	}
	v := (*free)[n-1]
	(*free)[n-1] = nil
	*free = (*free)[:n-1]
	return v
}

// Bounds of the finder's free lists: what open units of a busy proxy
// turn over, not what a burst of closes would leave.
const (
	maxFreeUnits   = 256
	maxFreeDigests = 4096
	maxFreeRows    = 4096
)

// recycle keeps a closed unit and its statements for reuse: zeroed, with
// the room their map, lists and tables grew kept. Nothing may refer to u
// (its owner let go) or to its unitDigests and rows (only u did); what
// findings took from them was copied.
func (f *finder) recycle(u *unit) {
	for _, ud := range u.order {
		if len(f.freeDigests) >= maxFreeDigests {
			break
		}
		ex := ud.examples
		clear(ex) // the SQL and parameters they point at are not ours to keep alive
		*ud = unitDigest{examples: ex[:0]}
		f.freeDigests = append(f.freeDigests, ud)
	}
	for ra := range u.rows.all() {
		if len(f.freeRows) >= maxFreeRows {
			break
		}
		*ra = rowAccess{}
		f.freeRows = append(f.freeRows, ra)
	}
	if len(f.freeUnits) >= maxFreeUnits || len(u.digests) > 64 {
		return // a big unit's map would keep its size
	}
	digests, order, tags, slots := u.digests, u.order, u.tags, u.rows.slots
	clear(digests)
	clear(order)
	clear(tags)
	clear(slots)
	*u = unit{digests: digests, order: order[:0], tags: tags[:0], rows: rowTable{slots: slots}}
	f.freeUnits = append(f.freeUnits, u)
}

// add records one statement, which took lat, in u.
func (f *finder) add(u *unit, ev *protocol.Event, fp *fingerprint.Fingerprint, a *aggregate, st *stmtState, lat time.Duration) {
	u.n++
	u.seen = f.wall
	if t := eventTime(ev); t.After(u.last) {
		u.last = t
	}
	for _, t := range fp.Tags {
		if isTraceTag(t.Key) || len(u.tags) >= maxUnitTags {
			continue
		}
		kv := t.Key + "=" + t.Value
		if !slices.Contains(u.tags, kv) {
			u.tags = append(u.tags, kv)
		}
	}
	ud := u.digests[fp.Digest]
	if ud == nil {
		if len(u.digests) >= maxUnitDigests {
			u.truncated = true
			return
		}
		if u.digests == nil {
			u.digests = map[fingerprint.Digest]*unitDigest{}
		}
		ud = f.newUnitDigest()
		ud.digest, ud.text, ud.schema, ud.kind, ud.first, ud.agg = fp.Digest, a.text, a.schema, a.info.Kind, ev.Sent, a
		ud.keys = f.keyInfo(fp.Digest, a)
		// The SELECTs whose rows may drive a loop over this statement.
		for _, s := range u.recent {
			if s.rows > 0 && s.digest != fp.Digest {
				ud.srcs[ud.nsrcs] = s
				ud.nsrcs++
			}
		}
		u.digests[fp.Digest] = ud
		u.order = append(u.order, ud)
		if u.kind == unitTx && u.first == nil && ud.kind != fingerprint.KindBegin && ud.kind != fingerprint.KindSet {
			u.first = ud
		}
	}
	ud.count++
	ud.dur += lat

	values, lits, known := f.values(ev, fp, st)
	if known {
		ud.known++
		switch {
		case ud.known == 1:
			ud.v0, ud.maxSame, ud.v0dur = values, 1, lat
		case ud.vals.len() == 0 && values == ud.v0:
			ud.maxSame++
			ud.v0dur += lat
		default:
			if ud.vals.len() == 0 {
				ud.vals.add(ud.v0, ud.maxSame, maxUnitValues, &f.valueTables)
			}
			if n, ok := ud.vals.add(values, 1, maxUnitValues, &f.valueTables); ok {
				ud.maxSame = max(ud.maxSame, n)
			}
		}
		if ud.keys != nil {
			f.addRowKeys(u, ud, lits, lat, ev)
		}
	}
	if len(ud.examples) < MaxFindingExamples && len(ev.SQL) <= maxExampleSQL {
		ud.examples = append(ud.examples, exampleRef{sql: ev.SQL, params: ev.Params})
	}
	if ud.kind == fingerprint.KindSelect && ev.RowsSent >= uint64(f.cfg.MinLoop) {
		s := source{digest: fp.Digest, text: a.text, schema: a.schema, rows: ev.RowsSent}
		i := slices.IndexFunc(u.recent[:], func(r source) bool { return r.digest == fp.Digest })
		if i < 0 {
			i = 0
		}
		copy(u.recent[i:], u.recent[i+1:])
		u.recent[len(u.recent)-1] = s
	}
}

// values returns the hash of a statement's argument values, the hashes of
// its literals by literal index, and whether they are known.
func (f *finder) values(ev *protocol.Event, fp *fingerprint.Fingerprint, st *stmtState) (uint64, [8]uint64, bool) {
	if ev.Command == protocol.ComQuery {
		return fp.Values, fp.LiteralHashes, true
	}
	if ev.ParamsUndecodable || len(ev.Params) < ev.ParamCount {
		return 0, [8]uint64{}, false
	}
	var sum uint64
	var byParam [8]uint64
	for i, p := range ev.Params {
		f.scratch = p.AppendSQLLiteral(f.scratch[:0])
		h := xxhash.Sum64(f.scratch)
		sum = bits.RotateLeft64(sum^h, 27)*0x9E3779B185EBCA87 + 1
		if i < len(byParam) {
			byParam[i] = h
		}
	}
	var lits [8]uint64
	if st != nil {
		for li, pi := range st.paramOf {
			if li < len(lits) && pi >= 0 && int(pi) < len(byParam) {
				lits[li] = byParam[pi]
			}
		}
	}
	return sum, lits, true
}

// addRowKeys notes the rows (table, key column, value) ud's execution
// addressed.
func (f *finder) addRowKeys(u *unit, ud *unitDigest, lits [8]uint64, lat time.Duration, ev *protocol.Event) {
	for j, li := range ud.keys.lits {
		if li >= len(lits) || j >= len(ud.key0) || lits[li] == 0 {
			continue
		}
		v := lits[li]
		if ud.count == 1 || ud.known == 1 {
			ud.key0[j] = v
		} else if v != ud.key0[j] {
			ud.varied |= 1 << j
		}
		k := rowKey{ud.keys.hashes[j], v}
		ra := u.rows.get(k)
		if ra == nil {
			if u.rows.len() >= maxUnitRows {
				continue
			}
			ra = f.newRow()
			ra.key, ra.table, ra.col = k, ud.keys.table, ud.keys.cols[j]
			u.rows.put(ra)
		}
		ra.count++
		ra.dur += lat
		if !slices.Contains(ra.digests[:ra.nd], ud) && ra.nd < len(ra.digests) {
			ra.digests[ra.nd] = ud
			ra.nd++
		}
		if f.logLiterals && ra.value == "" && !mayHoldSecret(ud.kind, ev.SQL) {
			if ev.Command == protocol.ComQuery {
				if ls := fingerprint.Literals(ev.SQL, li+1); len(ls) > li {
					ra.value = cutUTF8(ls[li], maxExampleValue)
				}
			}
		}
	}
}

// keyInfo returns (and caches) the WHERE-clause equality keys of a's
// statement shape, or nil when it has none or touches several tables.
func (f *finder) keyInfo(d fingerprint.Digest, a *aggregate) *keyInfo {
	if k, ok := f.keys[d]; ok {
		return k
	}
	var k *keyInfo
	if len(a.info.Tables) == 1 && !a.truncated {
		cols, lits := whereKeys(a.text)
		if len(cols) > 0 {
			k = &keyInfo{table: a.info.Tables[0], cols: cols, lits: lits}
			for _, c := range cols {
				k.hashes = append(k.hashes, xxhash.Sum64String(k.table+"\x00"+c))
			}
		}
	}
	if len(f.keys) < maxSeenDigests {
		f.keys[d] = k
	}
	return k
}

// whereKeys finds "col = ?" predicates of the WHERE clause in a normalized
// text, with the index of each '?' among the text's literals. It gives up
// past a collapsed list "(...)", after which literal indexes no longer
// match the source's.
func whereKeys(text string) (cols []string, lits []int) {
	toks := strings.Fields(text)
	lit, inWhere := 0, false
	for i, t := range toks {
		if strings.Contains(t, "...") {
			return cols, lits
		}
		switch strings.Trim(t, "(),") {
		case "where":
			inWhere = true
		case "order", "group", "having", "limit", "union", "for", "into", "set", "values", "select":
			if !strings.HasPrefix(t, "(") {
				inWhere = false
			}
		}
		if inWhere && i+2 < len(toks) && toks[i+1] == "=" && strings.HasPrefix(toks[i+2], "?") &&
			(i == 0 || toks[i-1] == "where" || toks[i-1] == "and" || strings.HasPrefix(t, "(")) {
			col := strings.TrimLeft(t, "(")
			if j := strings.LastIndexByte(col, '.'); j >= 0 {
				col = col[j+1:]
			}
			if col != "" && col != "?" && len(cols) < 4 {
				cols = append(cols, col)
				lits = append(lits, lit)
			}
		}
		lit += strings.Count(t, "?")
	}
	return cols, lits
}

// closeUnit looks for the patterns in a finished unit.
func (f *finder) closeUnit(u *unit) {
	if u.trace != "" && f.traces[u.trace] == u {
		delete(f.traces, u.trace)
	}
	if u.n == 0 {
		return
	}
	f.dirty = true
	for _, ud := range u.order {
		ud.agg.units++
		ud.agg.dirty = true
	}
	for _, ud := range u.order {
		if ud.kind != fingerprint.KindSelect {
			continue
		}
		if ud.count >= f.cfg.MinLoop && ud.known >= 2 && ud.vals.len() >= 2 {
			if src, ok := f.loopSource(ud); ok {
				f.nPlusOne(u, ud, src)
			}
		}
		if int(ud.maxSame) >= f.cfg.MinRepeats {
			f.repeatedRead(u, ud)
		}
	}
	for ra := range u.rows.all() {
		if ra.count >= f.cfg.MinRowStatements && ra.nd >= 2 {
			f.rowRoundTrips(u, ra)
		}
	}
	if u.kind == unitTx {
		f.closeTx(u)
	}
	// The unit is done with: nothing refers to it once its owner (a
	// connection, a client or the trace table) lets go after this call.
	for _, ud := range u.order {
		ud.vals.release(&f.valueTables)
	}
	f.recycle(u)
}

// loopSource picks the SELECT whose rows drive ud: one that ran before
// ud's first execution and returned at least as many rows as ud ran, but
// not more than twice as many. The closest count wins.
func (f *finder) loopSource(ud *unitDigest) (source, bool) {
	best, ok := source{}, false
	k := uint64(ud.count)
	for _, s := range ud.srcs[:ud.nsrcs] {
		if s.rows < k || s.rows > 2*k {
			continue
		}
		if !ok || s.rows < best.rows {
			best, ok = s, true
		}
	}
	return best, ok
}

func (u *unit) example(executions int, dur time.Duration, detail string) FindingExample {
	label := u.kind.String()
	if u.kind == unitTrace {
		label = "trace " + u.trace
	}
	if len(u.tags) > 0 {
		label += " (" + strings.Join(u.tags, ", ") + ")"
	}
	return FindingExample{
		Unit: label, ConnID: u.connID, User: u.user, Client: u.client,
		Executions: uint64(executions), Seconds: dur.Seconds(), Detail: detail, At: u.start,
	}
}

// exampleValues renders the argument values of ud's first executions, with
// LogLiterals only.
func (f *finder) exampleValues(ud *unitDigest) []string {
	if !f.logLiterals || ud.kind == fingerprint.KindUser || ud.kind == fingerprint.KindGrant {
		return nil
	}
	var out []string
	for _, ex := range ud.examples {
		if mayHoldSecret(ud.kind, ex.sql) {
			continue
		}
		var v []string
		if ex.params != nil {
			for i, p := range ex.params {
				if i >= 4 {
					break
				}
				v = append(v, cutUTF8(p.String(), maxExampleValue))
			}
		} else if ex.sql != "" {
			for _, l := range fingerprint.Literals(ex.sql, 4) {
				v = append(v, cutUTF8(l, maxExampleValue))
			}
		}
		out = append(out, strings.Join(v, ", "))
	}
	return out
}

func (f *finder) nPlusOne(u *unit, ud *unitDigest, src source) {
	saving := ud.dur - ud.dur/time.Duration(ud.count)
	ex := u.example(ud.count, ud.dur, fmt.Sprintf("%d executions with %d distinct argument values after %q returned %d rows",
		ud.count, ud.vals.len(), src.text, src.rows))
	ex.Values = f.exampleValues(ud)
	agg := f.record(findingKey{kind: KindNPlusOne, digest: ud.digest, source: src.digest, schema: ud.schema},
		ud.agg, ud.text, src.text, uint64(ud.count), ud.dur, saving, u.start, u.tags, ex)
	if agg.suggestion == "" {
		agg.suggestion = inRewrite(ud)
	}
}

// inRewrite turns the loop's statement into the one query that fetches all
// of its rows: its first varying key predicate "col = ?" becomes
// "col in (...)".
func inRewrite(ud *unitDigest) string {
	if ud.keys == nil {
		return ""
	}
	for j, col := range ud.keys.cols {
		if ud.varied&(1<<j) == 0 {
			continue
		}
		toks := strings.Fields(ud.text)
		lit := 0
		for i := 0; i+2 < len(toks); i++ {
			if lit == ud.keys.lits[j] && toks[i+1] == "=" && strings.HasPrefix(toks[i+2], "?") &&
				strings.HasSuffix(strings.TrimLeft(toks[i], "("), col) {
				rest := strings.TrimPrefix(toks[i+2], "?")
				toks[i+1], toks[i+2] = "in", "(...)"+rest
				return strings.Join(toks, " ")
			}
			lit += strings.Count(toks[i], "?")
		}
	}
	return ""
}

func (f *finder) repeatedRead(u *unit, ud *unitDigest) {
	execs, values := 0, 0
	var d time.Duration
	if ud.vals.len() == 0 {
		execs, d, values = int(ud.maxSame), ud.v0dur, 1
	} else {
		for n := range ud.vals.all() {
			if int(n) >= f.cfg.MinRepeats {
				execs += int(n)
				values++
			}
		}
		// Their time, at the statement's mean in this unit.
		d = ud.dur * time.Duration(execs) / time.Duration(max(ud.count, 1))
	}
	// Code that repeats a read does it for most of the statement's
	// executions; random keys that happen to repeat (a few of many point
	// reads) do not.
	if 2*execs < ud.known {
		return
	}
	saving := d - d*time.Duration(values)/time.Duration(max(execs, 1))
	ex := u.example(execs, d, fmt.Sprintf("%d executions with the same arguments (%d distinct value set(s) repeated)", execs, values))
	ex.Values = f.exampleValues(ud)
	agg := f.record(findingKey{kind: KindRepeatedRead, digest: ud.digest, schema: ud.schema},
		ud.agg, ud.text, "", uint64(execs), d, saving, u.start, u.tags, ex)
	if agg.suggestion == "" {
		agg.suggestion = "run it once per unit of work and reuse the result (a variable or a request-scoped cache)"
	}
}

func (f *finder) rowRoundTrips(u *unit, ra *rowAccess) {
	first := ra.digests[0]
	var texts []string
	for _, d := range ra.digests[:ra.nd] {
		texts = append(texts, d.text)
	}
	detail := fmt.Sprintf("%d statements of %d shapes addressed one row of %s by %s", ra.count, ra.nd, ra.table, ra.col)
	if f.logLiterals && ra.value != "" {
		detail += " = " + ra.value
	}
	ex := u.example(ra.count, ra.dur, detail)
	saving := ra.dur - ra.dur/time.Duration(ra.count)
	agg := f.record(findingKey{kind: KindRowRoundTrips, digest: first.digest, schema: first.schema, extra: ra.table + "." + ra.col},
		first.agg, first.text, "", uint64(ra.count), ra.dur, saving, u.start, u.tags, ex)
	if agg.related == nil {
		agg.related = texts
	}
	if agg.suggestion == "" {
		agg.suggestion = "read the row once (or write it with one UPDATE ... WHERE " + ra.col + " = ?) instead of " +
			fmt.Sprint(ra.count) + " round trips"
	}
}

func (f *finder) closeTx(u *unit) {
	d := u.last.Sub(u.start)
	f.tx.Count++
	f.tx.Statements += u.n
	f.tx.MaxStatements = max(f.tx.MaxStatements, u.n)
	f.tx.Duration.Record(d)
	f.tx.IdleSeconds += u.idle.Seconds()
	f.tx.MaxIdle = max(f.tx.MaxIdle, u.maxIdle.Seconds())
	if u.first == nil {
		return
	}
	first := u.first
	if d >= f.cfg.LongTransaction {
		ex := u.example(int(u.n), d, fmt.Sprintf("%d statements over %s", u.n, d.Round(time.Millisecond)))
		agg := f.record(findingKey{kind: KindLongTransaction, digest: first.digest, schema: first.schema},
			first.agg, first.text, "", 1, d, 0, u.start, u.tags, ex)
		if agg.suggestion == "" {
			agg.suggestion = "keep transactions short: do slow work before BEGIN or after COMMIT"
		}
	}
	if u.idle >= f.cfg.IdleInTransaction {
		ex := u.example(int(u.n), u.idle, fmt.Sprintf("idle %s of %s waiting for the client (longest pause %s)",
			u.idle.Round(time.Millisecond), d.Round(time.Millisecond), u.maxIdle.Round(time.Millisecond)))
		agg := f.record(findingKey{kind: KindIdleInTransaction, digest: first.digest, schema: first.schema},
			first.agg, first.text, "", 1, u.idle, 0, u.start, u.tags, ex)
		if agg.suggestion == "" {
			agg.suggestion = "the transaction holds its locks while the application works between statements"
		}
	}
}

// record adds one unit's occurrence to a finding.
func (f *finder) record(k findingKey, stmt *aggregate, text, srcText string, execs uint64, dur, saving time.Duration,
	at time.Time, tags []string, ex FindingExample) *findingAgg {
	agg := f.findings[k]
	if agg == nil {
		if len(f.findings) >= maxFindings {
			f.dropped++
			return &findingAgg{} // counted, not kept
		}
		agg = &findingAgg{key: k, stmt: stmt, text: text, srcText: srcText, first: at}
		f.findings[k] = agg
	}
	if i := kindSlot(k.kind); i >= 0 {
		f.flagged[i]++
	}
	agg.executions += execs
	agg.units++
	agg.dur += dur
	agg.saving += saving
	if at.Before(agg.first) {
		agg.first = at
	}
	agg.last = later(agg.last, at)
	for _, t := range tags {
		if len(agg.tags) < MaxTags && !slices.Contains(agg.tags, t) {
			agg.tags = append(agg.tags, t)
		}
	}
	if len(agg.examples) < MaxFindingExamples {
		agg.examples = append(agg.examples, ex)
	}
	f.dirty = true
	return agg
}

// sweep ends the units that have been idle too long at now, oldest first
// (so that examples keep their order).
func (f *finder) sweep(now time.Time) {
	f.swept = now
	// On event time a unit is idle since its last event; on the wall
	// clock, since the engine last applied one of its events (events may
	// carry times from the past, as a replayed capture's do).
	idle := func(u *unit) time.Duration {
		if f.cfg.EventTime {
			return now.Sub(u.last)
		}
		return now.Sub(u.seen)
	}
	var ending []*unit
	for _, cs := range f.conns {
		if u := cs.burst; u != nil && (idle(u) > f.cfg.UnitGap || u.last.Sub(u.start) > f.cfg.MaxUnitDuration) {
			ending = append(ending, u)
			cs.burst = nil
		}
	}
	for _, u := range f.traces {
		if idle(u) > f.cfg.TraceGap {
			ending = append(ending, u)
		}
	}
	for _, cl := range f.clients {
		if u := cl.parked; u != nil && idle(u) > f.cfg.UnitGap {
			ending = append(ending, u)
			cl.parked = nil
		}
	}
	slices.SortStableFunc(ending, func(a, b *unit) int { return a.start.Compare(b.start) })
	for _, u := range ending {
		f.closeUnit(u)
	}
}

// finish ends every open unit (the engine is stopping).
func (f *finder) finish() {
	conns := slices.SortedFunc(maps.Values(f.conns), func(a, b *connState) int { return a.opened.Compare(b.opened) })
	for _, cs := range conns {
		f.closeConn(cs.key, f.clock)
	}
	f.cfg.EventTime = true // every unit is idle by then
	f.sweep(f.clock.Add(f.cfg.TraceGap + f.cfg.UnitGap + time.Nanosecond))
}

// list builds the published findings, all of them: which are shown is
// decided by VisibleFindings, so that snapshots merge exactly.
func (f *finder) list() []*Finding {
	out := []*Finding{}
	for _, agg := range f.findings {
		switch agg.key.kind {
		case KindPreparePerExecute, KindReprepare, KindConnectionChurn:
			continue // placeholders of markVisibleKind; listed below
		}
		fd := &Finding{
			ID:   agg.key.kind + "/" + agg.key.digest.String(),
			Kind: agg.key.kind, Digest: agg.key.digest.String(),
			Fingerprint: agg.text, Schema: agg.key.schema,
			Related:    slices.Clone(agg.related),
			Executions: agg.executions, Units: agg.units, Seconds: agg.dur.Seconds(),
			Suggestion: agg.suggestion, SavingSeconds: agg.saving.Seconds(),
			Tags:      slices.Clone(agg.tags),
			FirstSeen: agg.first, LastSeen: agg.last, Examples: slices.Clone(agg.examples),
		}
		if agg.stmt != nil {
			fd.UnitsSeen = agg.stmt.units
		}
		if agg.key.source != 0 {
			fd.ID += "/" + agg.key.source.String()
			fd.SourceDigest, fd.SourceFingerprint = agg.key.source.String(), agg.srcText
		}
		if agg.key.extra != "" {
			fd.ID += "/" + agg.key.extra
			fd.Row = agg.key.extra
		}
		fd.Title = FindingTitle(fd)
		if fd.Visible(f.cfg.MinShare) {
			f.markVisible(agg)
		}
		out = append(out, fd)
	}
	for d, ps := range f.prep {
		if ps.single >= uint64(f.cfg.MinPrepares) && 2*ps.single >= ps.prepares {
			fd := &Finding{
				ID: KindPreparePerExecute + "/" + d.String(), Kind: KindPreparePerExecute,
				Digest: d.String(), Fingerprint: ps.text, Schema: ps.schema,
				Executions: ps.single, Units: ps.single, Seconds: ps.singleDur.Seconds(),
				Suggestion:    "prepare once per connection and reuse the statement, or send the statement as text with client-side parameter interpolation",
				SavingSeconds: ps.singleDur.Seconds(), FirstSeen: ps.first, LastSeen: ps.last, Examples: []FindingExample{},
			}
			fd.Title = FindingTitle(fd)
			out = append(out, fd)
			f.markVisibleKind(KindPreparePerExecute, "p/"+d.String())
		}
		if ps.reprepares >= uint64(f.cfg.MinPrepares) {
			fd := &Finding{
				ID: KindReprepare + "/" + d.String(), Kind: KindReprepare,
				Digest: d.String(), Fingerprint: ps.text, Schema: ps.schema,
				Executions: ps.reprepares, Units: ps.reprepares,
				Suggestion: "cache prepared statements per connection, or close them after use",
				FirstSeen:  ps.first, LastSeen: ps.last, Examples: slices.Clone(ps.examples),
			}
			fd.Title = FindingTitle(fd)
			out = append(out, fd)
			f.markVisibleKind(KindReprepare, "r/"+d.String())
		}
	}
	for k, cl := range f.clients {
		if cl.closed < uint64(f.cfg.ChurnMinConnections) ||
			float64(cl.closedStmts) > f.cfg.ChurnMaxStatements*float64(cl.closed) {
			continue
		}
		fd := &Finding{
			ID: KindConnectionChurn + "/" + k.user + "@" + k.host, Kind: KindConnectionChurn,
			Client:     k.user + "@" + k.host,
			Executions: cl.opened, Units: cl.closed, Statements: cl.closedStmts, Seconds: cl.handshake.Seconds(),
			Suggestion:    "use a connection pool and keep connections open across requests",
			SavingSeconds: cl.handshake.Seconds(),
			FirstSeen:     cl.first, LastSeen: cl.last, Examples: slices.Clone(cl.recent),
		}
		fd.Title = FindingTitle(fd)
		out = append(out, fd)
		f.markVisibleKind(KindConnectionChurn, "c/"+k.user+"@"+k.host)
	}
	slices.SortFunc(out, compareFindings)
	return out
}

func (f *finder) markVisible(agg *findingAgg) {
	if !agg.visible {
		agg.visible = true
		if i := kindSlot(agg.key.kind); i >= 0 {
			f.created[i]++
		}
	}
}

// markVisibleKind counts a counter-based finding the first time it shows.
func (f *finder) markVisibleKind(kind, id string) {
	k := findingKey{kind: kind, extra: id}
	agg := f.findings[k]
	if agg == nil {
		if len(f.findings) >= maxFindings {
			return
		}
		agg = &findingAgg{key: k}
		f.findings[k] = agg
		// Not a statement finding: list skips it (see below).
	}
	if !agg.visible {
		agg.visible = true
		if i := kindSlot(kind); i >= 0 {
			f.created[i]++
			f.flagged[i]++
		}
	}
}

// publish puts the findings, the transaction summary and the counters in s.
func (f *finder) publish(s *Snapshot) {
	s.Findings = f.list()
	if len(f.restored) > 0 {
		s.Findings = mergeFindings(f.restored, s.Findings)
	}
	s.Transactions = f.tx
	s.Transactions.Duration = f.tx.Duration.Clone()
	s.FindingsCreated = make(map[string]uint64, len(kindIndex))
	s.FindingUnits = make(map[string]uint64, len(kindIndex))
	for i, k := range kindIndex {
		s.FindingsCreated[k] = f.created[i]
		s.FindingUnits[k] = f.flagged[i]
	}
	s.FindingsDropped = f.dropped
	f.dirty = false
}
