package clients

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/querylens/querylens/fingerprint"
	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/proxy"
	"github.com/querylens/querylens/stats"
)

func TestMain(m *testing.M) { os.Exit(testdb.RunMain(m)) }

// querylens is a querylens running in-process, wired as cmd/querylens/run.go
// wires it: proxy.New feeding a stats.Engine, listening on a free loopback
// port. Besides the address and the engine it keeps the proxy server, whose
// open-connection count tells when the decoder has seen a client's last
// response (the relay forwards a frame before decoding it, so a client can
// exit before its last event reaches the engine).
type querylens struct {
	Addr   string
	Engine *stats.Engine

	srv *proxy.Server
	reg *prometheus.Registry
}

// startQuerylens starts a querylens in front of upstream until the test
// ends. At the end it checks that the decoder followed every connection
// (no decode errors, panics or dropped events).
func startQuerylens(t *testing.T, upstream string) *querylens {
	t.Helper()
	return startQuerylensSink(t, upstream, nil)
}

// startQuerylensSink is startQuerylens with the proxy's events passed to
// wrap(engine) instead of the engine itself; nil wrap means the engine.
func startQuerylensSink(t *testing.T, upstream string, wrap func(proxy.Sink) proxy.Sink) *querylens {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	reg := prometheus.NewRegistry()
	scfg := stats.DefaultConfig()
	scfg.RecycleEvents = true // as the daemon runs it
	engine, err := stats.New(scfg, log.Named("stats"))
	require.NoError(t, err)
	engineCtx, stopEngine := context.WithCancel(context.Background())
	engineDone := make(chan struct{})
	go func() { engine.Run(engineCtx); close(engineDone) }()

	pcfg := proxy.DefaultConfig()
	pcfg.Upstream = upstream
	var sink proxy.Sink = engine
	if wrap != nil {
		sink = wrap(engine)
	}
	srv, err := proxy.New(pcfg, sink, log.Named("proxy"), proxy.NewMetrics(reg))
	require.NoError(t, err)
	l, err := proxy.Listen("127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	q := &querylens{Addr: l.Addr().String(), Engine: engine, srv: srv, reg: reg}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("querylens shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, proxy.ErrServerClosed) {
			t.Errorf("querylens serve: %v", err)
		}
		stopEngine()
		<-engineDone
		snap := engine.Snapshot()
		if snap.DroppedEvents != 0 || snap.Panics != 0 {
			t.Errorf("querylens stats: %d events dropped, %d panics", snap.DroppedEvents, snap.Panics)
		}
		for _, name := range []string{"querylens_decode_errors_total", "querylens_decoder_panics_total"} {
			if v := q.metric(t, name); v != 0 {
				t.Errorf("%s = %v, want 0", name, v)
			}
		}
	})
	return q
}

// snapshot waits until every proxied connection has closed, so that the
// decoder has seen the last response of each, then flushes the engine and
// returns its snapshot. Clients must have finished before it is called.
func (q *querylens) snapshot(t *testing.T) *stats.Snapshot {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for q.srv.OpenConns() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("querylens still has %d open connections after the clients ended", q.srv.OpenConns())
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, q.Engine.Flush(ctx))
	return q.Engine.Snapshot()
}

// metric returns the value of a counter or gauge without labels.
func (q *querylens) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := q.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// needTool returns the path of a client program. When it is missing the
// test is skipped with hint, or fails when CI=true.
func needTool(t *testing.T, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name+" not found; "+hint)
	}
	return p
}

// missing skips the test, or fails it when CI=true, where every client must
// be installed.
func missing(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: required)")
	}
	t.Skip(msg)
}

// output is what one client run printed, with stdout kept as a hash (some
// runs print tens of megabytes) plus its first bytes for messages.
type output struct {
	Hash   string // sha256 of stdout
	Len    int64  // bytes of stdout
	Head   string // first bytes of stdout
	Stderr string
	Code   int
}

func (o output) String() string {
	head := o.Head
	if len(head) > 160 {
		head = head[:160] + "…"
	}
	return fmt.Sprintf("exit %d, stdout %d bytes sha256 %.16s, head %q, stderr %q", o.Code, o.Len, o.Hash, head, o.Stderr)
}

// same reports whether two runs printed exactly the same.
func (o output) same(p output) bool {
	return o.Hash == p.Hash && o.Len == p.Len && o.Stderr == p.Stderr && o.Code == p.Code
}

const headBytes = 64 << 10

type headWriter struct {
	b bytes.Buffer
	n int64
}

func (h *headWriter) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	if room := headBytes - h.b.Len(); room > 0 {
		h.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// runClient runs a client program with a timeout and returns its output;
// stdin may be nil. It never fails the test on a non-zero exit: callers
// compare exit codes between direct and proxied runs.
func runClient(t *testing.T, timeout time.Duration, stdin io.Reader, env []string, name string, args ...string) output {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = stdin
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	h := sha256.New()
	head := &headWriter{}
	var stderr bytes.Buffer
	cmd.Stdout = io.MultiWriter(h, head)
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %v; stderr: %s", name, strings.Join(args, " "), timeout, stderr.String())
	}
	code := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", name, err)
	}
	return output{Hash: hex.EncodeToString(h.Sum(nil)), Len: head.n, Head: head.b.String(), Stderr: stderr.String(), Code: code}
}

// mariadbServer is the shared throwaway server with a root connection over
// its unix socket, which does not go through any proxy.
type mariadbServer struct {
	*testdb.Server
	root *sql.DB
}

func requireServer(t *testing.T) *mariadbServer {
	t.Helper()
	srv := testdb.Require(t)
	root, err := srv.Root()
	require.NoError(t, err)
	root.SetMaxOpenConns(1)
	t.Cleanup(func() { root.Close() })
	return &mariadbServer{Server: srv, root: root}
}

func (s *mariadbServer) exec(t *testing.T, queries ...string) {
	t.Helper()
	for _, q := range queries {
		_, err := s.root.Exec(q)
		require.NoError(t, err, q)
	}
}

// resetSchema drops and recreates schema, then runs ddl in it.
func (s *mariadbServer) resetSchema(t *testing.T, schema string, ddl ...string) {
	t.Helper()
	s.exec(t, "DROP DATABASE IF EXISTS "+schema, "CREATE DATABASE "+schema)
	for _, q := range ddl {
		_, err := s.root.Exec("USE " + schema + "; " + q)
		require.NoError(t, err, q)
	}
	s.exec(t, "USE mysql")
}

// comStatus reads the server's Com_* counters.
func (s *mariadbServer) comStatus(t *testing.T) map[string]int64 {
	t.Helper()
	rows, err := s.root.Query("SHOW GLOBAL STATUS LIKE 'Com\\_%'")
	require.NoError(t, err)
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var name string
		var v int64
		require.NoError(t, rows.Scan(&name, &v))
		m[name] = v
	}
	require.NoError(t, rows.Err())
	return m
}

// comCounter measures the Com_* deltas of a workload. Reading the counters
// is itself a statement, so the cost of one read is measured first and
// taken off. Nothing else may run on the server meanwhile: tests in this
// package do not run in parallel.
type comCounter struct {
	s        *mariadbServer
	before   map[string]int64
	overhead map[string]int64
}

// startCom waits for the server to finish with every client connection
// (clients do not wait for the answer-less COM_STMT_CLOSE and COM_QUIT), then
// reads the counters.
func (s *mariadbServer) startCom(t *testing.T) *comCounter {
	t.Helper()
	s.waitIdle(t)
	a := s.comStatus(t)
	b := s.comStatus(t)
	return &comCounter{s: s, before: b, overhead: diff(b, a)}
}

// delta waits for the clients' connections to end on the server, then
// returns the non-zero counter changes since startCom, less the reads' own
// increments.
func (c *comCounter) delta(t *testing.T) map[string]int64 {
	t.Helper()
	polls := c.s.waitIdle(t)
	d := diff(c.s.comStatus(t), c.before)
	d["Com_show_status"] -= int64(polls)
	for k, v := range c.overhead {
		d[k] -= v
	}
	for k, v := range d {
		if v == 0 {
			delete(d, k)
		}
	}
	return d
}

// waitIdle waits until the root connection is the server's only client
// connection, so that every command of the clients before has been
// processed and counted. It returns how many status reads (each one
// Com_show_status) it took.
func (s *mariadbServer) waitIdle(t *testing.T) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for polls := 1; ; polls++ {
		var name string
		var n int
		require.NoError(t, s.root.QueryRow("SHOW GLOBAL STATUS LIKE 'Threads_connected'").Scan(&name, &n))
		if n <= 1 {
			return polls
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server still has %d client connections", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func diff(a, b map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range a {
		if v != b[k] {
			d[k] = v - b[k]
		}
	}
	return d
}

// truncateDigests empties the server's digest summary table.
func (s *mariadbServer) truncateDigests(t *testing.T) {
	t.Helper()
	s.exec(t, "TRUNCATE performance_schema.events_statements_summary_by_digest")
}

// counts are per-statement-shape numbers, from either side.
type counts struct {
	Count, Errors, RowsSent, RowsAffected uint64
}

// serverDigest is the server's digest rows for one querylens fingerprint:
// several server digests can normalize to one fingerprint (the server keeps
// "IN (?)" and "IN (...)" apart, for example).
type serverDigest struct {
	counts
	Fingerprint string // querylens's fingerprint of the texts
	Texts       []string
}

// serverDigests reads the digest rows of schema and keys them by the
// querylens digest of their DIGEST_TEXT. Because the server updates the
// table after it has answered the client, it reads until two reads agree.
func (s *mariadbServer) serverDigests(t *testing.T, schema string) map[string]*serverDigest {
	t.Helper()
	var prev map[string]*serverDigest
	for i := 0; ; i++ {
		cur := s.readDigests(t, schema)
		if prev != nil && sameServerDigests(prev, cur) || i == 20 {
			return cur
		}
		prev = cur
		time.Sleep(50 * time.Millisecond)
	}
}

// serverTextFixer undoes the server's rewrites in DIGEST_TEXT that no
// client sends: MariaDB writes SELECT DISTINCT as "SELECT DISTINCTROW".
var serverTextFixer = strings.NewReplacer("SELECT DISTINCTROW ", "SELECT DISTINCT ")

func sameServerDigests(a, b map[string]*serverDigest) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w.counts != v.counts {
			return false
		}
	}
	return true
}

func (s *mariadbServer) readDigests(t *testing.T, schema string) map[string]*serverDigest {
	t.Helper()
	rows, err := s.root.Query(`SELECT DIGEST_TEXT, COUNT_STAR, SUM_ERRORS, SUM_ROWS_SENT, SUM_ROWS_AFFECTED
		FROM performance_schema.events_statements_summary_by_digest WHERE SCHEMA_NAME = ?`, schema)
	require.NoError(t, err)
	defer rows.Close()
	fp := fingerprint.New(fingerprint.DefaultConfig())
	out := map[string]*serverDigest{}
	for rows.Next() {
		var text sql.NullString
		var c counts
		require.NoError(t, rows.Scan(&text, &c.Count, &c.Errors, &c.RowsSent, &c.RowsAffected))
		f := fp.Fingerprint(serverTextFixer.Replace(text.String))
		d := f.Digest.String()
		sd := out[d]
		if sd == nil {
			sd = &serverDigest{Fingerprint: f.Text}
			out[d] = sd
		}
		sd.Count += c.Count
		sd.Errors += c.Errors
		sd.RowsSent += c.RowsSent
		sd.RowsAffected += c.RowsAffected
		sd.Texts = append(sd.Texts, text.String)
	}
	require.NoError(t, rows.Err())
	return out
}

// ourDigests returns the snapshot's entries for schema, keyed by digest.
func ourDigests(snap *stats.Snapshot, schema string) map[string]*stats.DigestStats {
	m := map[string]*stats.DigestStats{}
	for _, d := range snap.Digests {
		if d.Schema == schema {
			m[d.Digest] = d
		}
	}
	return m
}

// ourStmt is querylens's numbers for one statement shape, arranged the way
// MariaDB's digest table counts them.
//
// A multi-statement COM_QUERY ("a; b; c") is one fingerprint counted once
// by querylens, while the server counts each statement it runs. MariaDB
// 10.11 files every statement of such a batch under a digest whose
// DIGEST_TEXT is the batch's first statement followed by " ; " (seen here:
// a batch of INSERT, SELECT, UPDATE, SELECT gave four rows all reading
// "INSERT INTO `kv` ... VALUES (...) /* , ... */ ; "), with each
// statement's own rows and errors. So a batch is compared under its first
// statement's fingerprint, as len(parts) executions per run, with its rows,
// affected rows and errors as they are (Multi marks it).
type ourStmt struct {
	Fingerprint string
	counts
	Queries uint64 // executions as COM_QUERY; the rest were prepared
	Multi   bool   // includes multi-statement batches
}

// errParse is ER_PARSE_ERROR. A statement the server cannot parse leaves no
// digest row and increments no Com_* counter, so executions that failed
// with it are left out of what the server is expected to show.
const errParse = 1064

// executions returns d's executions the server counts: all but those that
// failed to parse.
func executions(d *stats.DigestStats) uint64 { return d.Count - d.ErrorsByCode[errParse] }

// parseErrors counts the executions querylens saw fail with a syntax error.
func parseErrors(snap *stats.Snapshot) uint64 {
	var n uint64
	for _, d := range snap.Digests {
		n += d.ErrorsByCode[errParse]
	}
	return n
}

// statementLevel arranges querylens's digests of schema as above.
func statementLevel(snap *stats.Snapshot, schema string) map[string]*ourStmt {
	fp := fingerprint.New(fingerprint.DefaultConfig())
	m := map[string]*ourStmt{}
	for _, d := range snap.Digests {
		if d.Schema != schema || executions(d) == 0 {
			continue
		}
		parts := uint64(len(strings.Split(d.Fingerprint, "; ")))
		first, _, multi := strings.Cut(d.Fingerprint, "; ")
		f := fp.Fingerprint(first)
		o := m[f.Digest.String()]
		if o == nil {
			o = &ourStmt{Fingerprint: f.Text}
			m[f.Digest.String()] = o
		}
		parseErrs := d.ErrorsByCode[errParse]
		o.Count += executions(d) * parts
		o.Queries += (d.Commands["query"] - parseErrs) * parts
		o.Errors += d.Errors - parseErrs
		o.RowsSent += d.RowsSent
		o.RowsAffected += d.RowsAffected
		o.Multi = o.Multi || multi
	}
	return m
}

// digestOf returns querylens's aggregate of sql's shape in schema.
func digestOf(t *testing.T, snap *stats.Snapshot, schema, sql string) *stats.DigestStats {
	t.Helper()
	d := ourDigests(snap, schema)[fingerprint.New(fingerprint.DefaultConfig()).Fingerprint(sql).Digest.String()]
	if d == nil {
		t.Fatalf("querylens has no digest for %q in schema %s", sql, schema)
	}
	return d
}

// digestRow pairs both sides' numbers for one fingerprint.
type digestRow struct {
	Digest      string
	Fingerprint string
	ServerTexts []string
	Ours        counts
	OurQueries  uint64 // executions as COM_QUERY (the rest were prepared)
	Multi       bool   // includes multi-statement batches (see ourStmt)
	Server      counts
	InOurs      bool
	InServer    bool
}

// joinStatements pairs our statements with the server's digest rows by
// fingerprint.
func joinStatements(ours map[string]*ourStmt, server map[string]*serverDigest) []*digestRow {
	rows := map[string]*digestRow{}
	for d, o := range ours {
		rows[d] = &digestRow{Digest: d, Fingerprint: o.Fingerprint, InOurs: true,
			Ours: o.counts, OurQueries: o.Queries, Multi: o.Multi}
	}
	for d, s := range server {
		r := rows[d]
		if r == nil {
			r = &digestRow{Digest: d, Fingerprint: s.Fingerprint}
			rows[d] = r
		}
		r.InServer, r.Server, r.ServerTexts = true, s.counts, s.Texts
	}
	out := make([]*digestRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out
}

// logDigestTable logs both sides side by side.
func logDigestTable(t *testing.T, rows []*digestRow) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%-9s %-9s %-6s %-6s %-9s %-9s %-9s %-9s  %s\n", "ql.count", "srv.count", "ql.err", "srv.er", "ql.rows", "srv.rows", "ql.aff", "srv.aff", "fingerprint")
	for _, r := range rows {
		fp := r.Fingerprint
		if len(fp) > 110 {
			fp = fp[:110] + "…"
		}
		switch {
		case !r.InOurs:
			fp = "(server only) " + fp
		case !r.InServer:
			fp = "(querylens only) " + fp
		}
		if r.Multi {
			fp = "(multi-statement batch) " + fp
		}
		fmt.Fprintf(&b, "%-9d %-9d %-6d %-6d %-9d %-9d %-9d %-9d  %s\n", r.Ours.Count, r.Server.Count,
			r.Ours.Errors, r.Server.Errors, r.Ours.RowsSent, r.Server.RowsSent, r.Ours.RowsAffected, r.Server.RowsAffected, fp)
		for _, st := range r.ServerTexts {
			if len(st) > 160 {
				st = st[:160] + "…"
			}
			fmt.Fprintf(&b, "%62s server DIGEST_TEXT %q\n", "", st)
		}
	}
	t.Logf("querylens vs performance_schema digests:\n%s", b.String())
}

// checkDigests compares every joined row: each statement querylens saw as a
// text query must be in the server's table with the same count, errors,
// rows sent and rows affected; the server must have nothing querylens
// lacks. MariaDB's digest table does not record prepared-statement
// executions at all (COM_STMT_PREPARE/EXECUTE leave no row, checked by
// TestGoSQLDriverPrepared), so statements querylens saw only as prepared
// ones must be absent there; their executions are checked against
// Com_stmt_execute instead. Rows listed in skip (by fingerprint) are left
// to the caller.
//
// With lossy set (a concurrent workload), the server's numbers may fall
// short of querylens's, never exceed them, and the shortfall summed over all
// digests must stay under maxServerLoss of the executions. The reason: under
// concurrent load MariaDB 10.11 loses updates to its digest rows (each of
// COUNT_STAR, SUM_ROWS_SENT, ... independently; seen here in every 4-thread
// sysbench run, 14 runs: 1 to 6 of about 40,000 executions missing from
// COUNT_STAR (2.5e-5 to 1.5e-4), up to 3 in one digest of 10,000 and 1 in
// one of 964, i.e. up to 1e-3 per digest, far beyond the 1e-4 per digest of
// design.md rule 6; SUM_ROWS_SENT lost up to 2 in the same runs, while the
// same server's Com_* counters matched querylens exactly every time).
// A statement querylens put under the wrong digest would show as a digest
// where the server counts more than querylens.
func checkDigests(t *testing.T, rows []*digestRow, lossy bool, skip ...string) {
	t.Helper()
	within := func(ours, server uint64) bool {
		if lossy {
			return server <= ours
		}
		return server == ours
	}
	var total, lost uint64
	for _, r := range rows {
		if slices.Contains(skip, r.Fingerprint) {
			continue
		}
		switch {
		case !r.InOurs:
			t.Errorf("server digest %q (count %d) unknown to querylens", r.ServerTexts, r.Server.Count)
		case r.OurQueries == 0:
			if r.InServer {
				t.Errorf("%q ran only as a prepared statement but the server's digest table has it: %+v (the server started recording executes?)", r.Fingerprint, r.Server)
			}
		case !r.InServer:
			t.Errorf("querylens digest %q (count %d) not in the server's digest table", r.Fingerprint, r.Ours.Count)
		case r.OurQueries != r.Ours.Count:
			// Mixed text and prepared executions: only the text ones are
			// the server's.
			if !within(r.OurQueries, r.Server.Count) {
				t.Errorf("%q: querylens %d text executions, server %d", r.Fingerprint, r.OurQueries, r.Server.Count)
			}
			total += r.OurQueries
			lost += r.OurQueries - min(r.OurQueries, r.Server.Count)
		default:
			o, s := r.Ours, r.Server
			if !within(o.Count, s.Count) || !within(o.Errors, s.Errors) ||
				!within(o.RowsSent, s.RowsSent) || !within(o.RowsAffected, s.RowsAffected) {
				t.Errorf("%q: querylens %+v, server %+v (lossy %v)", r.Fingerprint, o, s, lossy)
			}
			total += o.Count
			lost += o.Count - min(o.Count, s.Count)
		}
	}
	if lossy {
		t.Logf("the server's digest table is short of querylens by %d of %d executions (%.1e)", lost, total, float64(lost)/float64(max(total, 1)))
		if float64(lost) > maxServerLoss*float64(total) {
			t.Errorf("the server's digest table is short by %d of %d executions, more than %g of them", lost, total, maxServerLoss)
		}
	}
}

// maxServerLoss bounds the share of executions MariaDB's digest table may
// miss under concurrent load: about seven times the worst seen (6 of
// 40,000).
const maxServerLoss = 1e-3

// comOfKind maps fingerprint.Describe kinds to the Com_* counters a
// statement of that kind increments.
var comOfKind = map[string][]string{
	fingerprint.KindSelect:        {"Com_select"},
	fingerprint.KindInsert:        {"Com_insert", "Com_insert_select"},
	fingerprint.KindReplace:       {"Com_replace", "Com_replace_select"},
	fingerprint.KindUpdate:        {"Com_update", "Com_update_multi"},
	fingerprint.KindDelete:        {"Com_delete", "Com_delete_multi"},
	fingerprint.KindLoadData:      {"Com_load"},
	fingerprint.KindCall:          {"Com_call_procedure"},
	fingerprint.KindDo:            {"Com_do"},
	fingerprint.KindSet:           {"Com_set_option"},
	fingerprint.KindBegin:         {"Com_begin"},
	fingerprint.KindCommit:        {"Com_commit"},
	fingerprint.KindRollback:      {"Com_rollback", "Com_rollback_to_savepoint"},
	fingerprint.KindSavepoint:     {"Com_savepoint"},
	fingerprint.KindRelease:       {"Com_release_savepoint"},
	fingerprint.KindUse:           {"Com_change_db"},
	fingerprint.KindCreateTable:   {"Com_create_table"},
	fingerprint.KindDropTable:     {"Com_drop_table"},
	fingerprint.KindTruncateTable: {"Com_truncate"},
}

// comOfCommand maps protocol command names (Snapshot.Commands keys) to the
// Com_* counter the server keeps for that command.
var comOfCommand = map[string]string{
	"stmt_prepare":        "Com_stmt_prepare",
	"stmt_execute":        "Com_stmt_execute",
	"stmt_close":          "Com_stmt_close",
	"stmt_reset":          "Com_stmt_reset",
	"stmt_fetch":          "Com_stmt_fetch",
	"stmt_send_long_data": "Com_stmt_send_long_data",
}

// statementKinds counts querylens's executions per statement kind, the way
// the server's Com_* counters count them: a multi-statement fingerprint
// ("a; b") counts once for each of its statements, and executions that
// failed to parse do not count.
func statementKinds(snap *stats.Snapshot) map[string]uint64 {
	m := map[string]uint64{}
	for _, d := range snap.Digests {
		for _, part := range strings.Split(d.Fingerprint, "; ") {
			m[fingerprint.Describe(part).Kind] += executions(d)
		}
	}
	return m
}

// expectedCom turns querylens's statement kinds and commands into the Com_*
// deltas the server should show: a map of counter groups ("Com_insert+
// Com_insert_select") to counts.
func expectedCom(snap *stats.Snapshot) map[string]int64 {
	m := map[string]int64{}
	for kind, n := range statementKinds(snap) {
		if coms, ok := comOfKind[kind]; ok {
			m[strings.Join(coms, "+")] += int64(n)
		} else {
			m["unmapped kind "+kind] += int64(n)
		}
	}
	for cmd, com := range comOfCommand {
		if n := snap.Commands[cmd]; n > 0 {
			m[com] += int64(n)
		}
	}
	return m
}

// groupCom folds a Com_* delta into the groups expectedCom uses; counters
// in no group are kept under their own names.
func groupCom(delta map[string]int64) map[string]int64 {
	group := map[string]string{}
	for _, coms := range comOfKind {
		for _, c := range coms {
			group[c] = strings.Join(coms, "+")
		}
	}
	m := map[string]int64{}
	for k, v := range delta {
		if g, ok := group[k]; ok {
			m[g] += v
		} else {
			m[k] += v
		}
	}
	return m
}

// logCom logs the expected and actual Com_* groups side by side.
func logCom(t *testing.T, want, got map[string]int64) {
	t.Helper()
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %-12s %s\n", "querylens", "server", "counter")
	for _, k := range names {
		fmt.Fprintf(&b, "%-12d %-12d %s\n", want[k], got[k], k)
	}
	t.Logf("Com_* deltas, querylens-derived vs server:\n%s", b.String())
}

func md5Hex(b []byte) string {
	h := md5.Sum(b)
	return hex.EncodeToString(h[:])
}

// hostPort splits a loopback address for clients that take them apart.
func hostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return h, p
}
