package stats

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Finding kinds: the wasteful patterns the engine detects (see finder.go).
const (
	KindNPlusOne           = "n_plus_one"
	KindRepeatedRead       = "repeated_read"
	KindRowRoundTrips      = "row_round_trips"
	KindConnectionChurn    = "connection_churn"
	KindPreparePerExecute  = "prepare_per_execute"
	KindUnclosedStatements = "unclosed_statements"
	KindReprepare          = "reprepare"
	KindLongTransaction    = "long_transaction"
	KindIdleInTransaction  = "idle_in_transaction"
)

// FindingKinds lists every kind, in the order reports present them.
var FindingKinds = []string{
	KindNPlusOne, KindRepeatedRead, KindRowRoundTrips, KindConnectionChurn,
	KindPreparePerExecute, KindUnclosedStatements, KindReprepare,
	KindLongTransaction, KindIdleInTransaction,
}

// MaxFindingExamples bounds Finding.Examples.
const MaxFindingExamples = 5

// Finding is one wasteful pattern, aggregated over every unit of work in
// which it was seen. Which fields are set depends on Kind; see FindingKinds.
type Finding struct {
	ID    string `json:"id"` // kind/digest[/source digest], or kind/client for churn
	Kind  string `json:"kind"`
	Title string `json:"title"` // one line for humans

	// The statement the finding is about (absent for connection churn).
	Digest      string `json:"digest,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Schema      string `json:"schema,omitempty"`
	// The statement whose rows drive an N+1 loop.
	SourceDigest      string `json:"source_digest,omitempty"`
	SourceFingerprint string `json:"source_fingerprint,omitempty"`
	// Other statements involved (row round trips: the statements that
	// touched the same row).
	Related []string `json:"related,omitempty"`

	// Executions is how many statements (connections, for churn;
	// transactions, for transaction findings) make up the pattern, Units
	// in how many units of work it was seen, Seconds the time they took
	// (handshakes, for churn; the idle time, for idle in transaction).
	Executions uint64  `json:"executions"`
	Units      uint64  `json:"units"`
	Seconds    float64 `json:"seconds"`
	// Suggestion is the fix, as SQL where there is one (the IN (...)
	// rewrite of an N+1); SavingSeconds what it would have saved.
	Suggestion    string  `json:"suggestion,omitempty"`
	SavingSeconds float64 `json:"saving_seconds,omitempty"`

	// UnitsSeen is in how many units of work the statement ran at all, so
	// Units/UnitsSeen tells a habit from a coincidence.
	UnitsSeen uint64 `json:"units_seen,omitempty"`
	// Row names the table and key column of a row round trip; Client the
	// user@host of connection churn, and Statements what its closed
	// connections ran.
	Row        string `json:"row,omitempty"`
	Client     string `json:"client,omitempty"`
	Statements uint64 `json:"statements,omitempty"`
	// Tags are the sqlcommenter attributions (route, controller, ...) of
	// the units, bounded like DigestStats.Tags.
	Tags []string `json:"tags,omitempty"`

	FirstSeen time.Time        `json:"first_seen"`
	LastSeen  time.Time        `json:"last_seen"`
	Examples  []FindingExample `json:"examples"`
}

// FindingExample is one unit of work in which a finding was seen.
type FindingExample struct {
	Unit       string    `json:"unit"` // "transaction", "trace 4bf9...", "burst", "connections"
	ConnID     uint32    `json:"conn_id,omitempty"`
	User       string    `json:"user,omitempty"`
	Client     string    `json:"client,omitempty"`
	Executions uint64    `json:"executions"`
	Seconds    float64   `json:"seconds"`
	Values     []string  `json:"values,omitempty"` // literal values, only with LogLiterals
	Detail     string    `json:"detail,omitempty"` // kind-specific, e.g. "source returned 50 rows"
	At         time.Time `json:"at"`
}

// FindingsConfig tunes detection. Zero fields take their defaults.
type FindingsConfig struct {
	// UnitGap ends a burst of statements on one connection (outside a
	// transaction and without a sqlcommenter traceparent): the next
	// statement sent after the connection was idle this long starts a new
	// unit of work. Default 250ms.
	UnitGap time.Duration
	// TraceGap ends the unit of a traceparent that has seen no statement
	// for this long. Default 2s.
	TraceGap time.Duration
	// MaxUnitDuration cuts a unit that never pauses (a busy pooled
	// connection). Default 10s.
	MaxUnitDuration time.Duration
	// MinLoop is the N of N+1: the fewest executions of one SELECT, with
	// differing arguments, that make a loop. Default 5.
	MinLoop int
	// MinRepeats is the fewest executions of one statement with the same
	// arguments in one unit that make a repeated read. Default 3.
	MinRepeats int
	// MinRowStatements is the fewest statements of different shapes that
	// must touch the same row (same table, key column and value) in one
	// unit to be reported as row round trips. Default 3.
	MinRowStatements int
	// MinShare hides a statement finding seen in fewer than this fraction
	// of the units in which its statement ran (a coincidence, not a
	// habit of the code). Default 0.05.
	MinShare float64
	// ChurnMinConnections and ChurnMaxStatements: a client (host and user)
	// that closed at least ChurnMinConnections connections running on
	// average at most ChurnMaxStatements statements each churns. Defaults
	// 5 and 3.
	ChurnMinConnections int
	ChurnMaxStatements  float64
	// MinPrepares is the fewest single-use prepared statements (prepared,
	// executed at most once, closed) of one digest reported as
	// prepare-per-execute, and the fewest re-prepares reported. Default 5.
	MinPrepares int
	// MaxOpenStatements: a connection holding more prepared statements
	// than this at once leaks them. Default 64.
	MaxOpenStatements int
	// LongTransaction and IdleInTransaction: transactions open at least
	// this long, or idle (waiting for the client) at least this long in
	// total. Defaults 2s and 500ms.
	LongTransaction   time.Duration
	IdleInTransaction time.Duration
	// EventTime makes event timestamps the only clock: units then end only
	// when later events show the gap (offline analysis of a capture, whose
	// times are in the past). Otherwise the wall clock (Config.Now) also
	// ends idle units.
	EventTime bool
}

// Defaults for FindingsConfig.
const (
	DefaultUnitGap           = 250 * time.Millisecond
	DefaultTraceGap          = 2 * time.Second
	DefaultMaxUnitDuration   = 10 * time.Second
	DefaultMinLoop           = 5
	DefaultMinRepeats        = 3
	DefaultMinRowStatements  = 3
	DefaultMinShare          = 0.05
	DefaultChurnConnections  = 5
	DefaultChurnStatements   = 3
	DefaultMinPrepares       = 5
	DefaultMaxOpenStatements = 64
	DefaultLongTransaction   = 2 * time.Second
	DefaultIdleInTransaction = 500 * time.Millisecond
)

// Internal bounds of the finder's state. What falls outside is counted in
// Snapshot.FindingsDropped, not kept.
const (
	maxFindings     = 1000
	maxOpenUnits    = 20000
	maxUnitDigests  = 256
	maxUnitRows     = 256
	maxUnitValues   = 256
	maxUnitStmts    = 10000
	maxUnitTags     = 4
	maxClients      = 4096
	maxSeenDigests  = 20000
	maxExampleSQL   = 4096
	maxExampleValue = 64
)

func (c FindingsConfig) withDefaults() FindingsConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.UnitGap, DefaultUnitGap)
	def(&c.TraceGap, DefaultTraceGap)
	def(&c.MaxUnitDuration, DefaultMaxUnitDuration)
	def(&c.LongTransaction, DefaultLongTransaction)
	def(&c.IdleInTransaction, DefaultIdleInTransaction)
	defInt(&c.MinLoop, DefaultMinLoop)
	defInt(&c.MinRepeats, DefaultMinRepeats)
	defInt(&c.MinRowStatements, DefaultMinRowStatements)
	defInt(&c.ChurnMinConnections, DefaultChurnConnections)
	defInt(&c.MinPrepares, DefaultMinPrepares)
	defInt(&c.MaxOpenStatements, DefaultMaxOpenStatements)
	if c.MinShare == 0 {
		c.MinShare = DefaultMinShare
	}
	if c.ChurnMaxStatements == 0 {
		c.ChurnMaxStatements = DefaultChurnStatements
	}
	return c
}

// Validate reports settings that make no sense.
func (c FindingsConfig) Validate() error {
	switch {
	case c.UnitGap < 0 || c.TraceGap < 0 || c.MaxUnitDuration < 0 ||
		c.LongTransaction < 0 || c.IdleInTransaction < 0:
		return errors.New("findings config: a duration is negative")
	case c.MinLoop < 0 || c.MinRepeats < 0 || c.MinRowStatements < 0 ||
		c.ChurnMinConnections < 0 || c.MinPrepares < 0 || c.MaxOpenStatements < 0:
		return errors.New("findings config: a count is negative")
	case c.MinLoop == 1 || c.MinRepeats == 1 || c.MinRowStatements == 1:
		return errors.New("findings config: a repetition threshold of 1 would flag every statement")
	case c.MinShare < 0 || c.MinShare > 1:
		return errors.New("findings config: min share must be within 0..1")
	case c.ChurnMaxStatements < 0:
		return errors.New("findings config: churn statements is negative")
	}
	return nil
}

// TransactionStats summarises the transactions seen (a unit of work that
// starts when the server reports a transaction open and ends when it
// reports it closed).
type TransactionStats struct {
	Count         uint64    `json:"count"`
	Statements    uint64    `json:"statements"`
	MaxStatements uint64    `json:"max_statements"`
	Duration      Histogram `json:"duration_histogram"`
	IdleSeconds   float64   `json:"idle_seconds"` // client think time inside transactions
	MaxIdle       float64   `json:"max_idle_seconds"`
}

func (t *TransactionStats) merge(o *TransactionStats) {
	t.Count += o.Count
	t.Statements += o.Statements
	t.MaxStatements = max(t.MaxStatements, o.MaxStatements)
	t.Duration = mergeHistograms(&t.Duration, &o.Duration)
	t.IdleSeconds += o.IdleSeconds
	t.MaxIdle = max(t.MaxIdle, o.MaxIdle)
}

// Visible reports whether a finding is shown: those about a statement's
// habits (N+1, repeated reads, row round trips) only when seen in at
// least minShare of the units of work in which the statement ran, since
// rarer ones are coincidences (random keys that happen to repeat). Every
// finding is kept in snapshots, so that merged snapshots decide alike.
func (f *Finding) Visible(minShare float64) bool {
	switch f.Kind {
	case KindNPlusOne, KindRepeatedRead, KindRowRoundTrips:
		return f.UnitsSeen == 0 || float64(f.Units) >= minShare*float64(f.UnitsSeen)
	}
	return true
}

// VisibleFindings returns the findings Visible at minShare.
func VisibleFindings(fs []*Finding, minShare float64) []*Finding {
	out := make([]*Finding, 0, len(fs))
	for _, f := range fs {
		if f.Visible(minShare) {
			out = append(out, f)
		}
	}
	return out
}

// FindingTitle is the one-line summary of f, from its numbers.
func FindingTitle(f *Finding) string {
	switch f.Kind {
	case KindNPlusOne:
		return fmt.Sprintf("N+1: %d executions of one SELECT walking the rows of another, in %s", f.Executions, units(f.Units))
	case KindRepeatedRead:
		return fmt.Sprintf("The same SELECT with the same arguments ran %d times in %s", f.Executions, units(f.Units))
	case KindRowRoundTrips:
		return fmt.Sprintf("%d statements of %d shapes worked on one row (%s) in %s", f.Executions, max(len(f.Related), 2), f.Row, units(f.Units))
	case KindConnectionChurn:
		t := fmt.Sprintf("%s opened %d connections", f.Client, f.Executions)
		if f.Units > 0 {
			t += fmt.Sprintf(" running %.1f statements each", float64(f.Statements)/float64(f.Units))
		}
		if span := f.LastSeen.Sub(f.FirstSeen); span > 0 {
			t += fmt.Sprintf(", %.1f connections/s", float64(f.Executions)/span.Seconds())
		}
		return t
	case KindPreparePerExecute:
		return fmt.Sprintf("Prepared, executed once and closed %d times", f.Executions)
	case KindReprepare:
		return fmt.Sprintf("The same statement prepared again on one connection %d times while still open", f.Executions)
	case KindUnclosedStatements:
		return "Prepared statements accumulate on a connection without being closed"
	case KindLongTransaction:
		return fmt.Sprintf("%s stayed open %s on average", plural(f.Units, "transaction", "transactions"),
			time.Duration(f.Seconds/float64(max(f.Units, 1))*float64(time.Second)).Round(time.Millisecond))
	case KindIdleInTransaction:
		return fmt.Sprintf("%s waited %.3fs in total for the client while open", plural(f.Units, "transaction", "transactions"), f.Seconds)
	}
	return f.Kind
}

func units(n uint64) string { return plural(n, "unit of work", "units of work") }

func plural(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// compareFindings orders by time spent, descending, then by ID.
func compareFindings(a, b *Finding) int {
	if c := cmp.Compare(b.Seconds, a.Seconds); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// clone returns a deep copy of f.
func (f *Finding) clone() *Finding {
	c := *f
	c.Related = slices.Clone(f.Related)
	c.Tags = slices.Clone(f.Tags)
	c.Examples = slices.Clone(f.Examples)
	for i := range c.Examples {
		c.Examples[i].Values = slices.Clone(c.Examples[i].Values)
	}
	return &c
}

// mergeFindings adds the findings of several snapshots up by ID.
func mergeFindings(lists ...[]*Finding) []*Finding {
	byID := map[string]*Finding{}
	for _, l := range lists {
		for _, f := range l {
			m := byID[f.ID]
			if m == nil {
				byID[f.ID] = f.clone()
				continue
			}
			m.Executions += f.Executions
			m.Statements += f.Statements
			m.Units += f.Units
			m.UnitsSeen += f.UnitsSeen
			m.Seconds += f.Seconds
			m.SavingSeconds += f.SavingSeconds
			if f.FirstSeen.Before(m.FirstSeen) {
				m.FirstSeen = f.FirstSeen
			}
			if f.LastSeen.After(m.LastSeen) {
				m.LastSeen = f.LastSeen
			}
			m.Tags, _ = unionBounded(m.Tags, f.Tags, MaxTags, false)
			// The earliest examples of both, as one engine would keep.
			m.Examples = append(m.Examples, f.Examples...)
			slices.SortStableFunc(m.Examples, func(a, b FindingExample) int { return a.At.Compare(b.At) })
			m.Examples = slices.Clip(m.Examples[:min(len(m.Examples), MaxFindingExamples)])
		}
	}
	return slices.SortedFunc(maps.Values(byID), compareFindings)
}
