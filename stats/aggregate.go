package stats

import (
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/querylens/querylens/fingerprint"
	"github.com/querylens/querylens/protocol"
)

// aggKey is what statements are aggregated by: the server's own choice for
// its digest table.
type aggKey struct {
	digest fingerprint.Digest
	schema string
}

// statementCommands are the commands that carry a statement in Event.SQL and
// are aggregated per fingerprint. Event.SQL of ComInitDB holds a schema name,
// not a statement, so it is not among them.
var statementCommands = [...]protocol.Command{
	protocol.ComQuery,
	protocol.ComStmtPrepare,
	protocol.ComStmtExecute,
	protocol.ComStmtBulkExecute,
	protocol.ComStmtFetch,
}

// statementSlot returns the index of c in statementCommands, or -1.
func statementSlot(c protocol.Command) int {
	for i, s := range statementCommands {
		if s == c {
			return i
		}
	}
	return -1
}

// aggregate is the writer goroutine's mutable state for one key. Nothing but
// the writer touches it; published holds its last immutable copy.
type aggregate struct {
	digest     string // Digest.String(), or OverflowDigest
	schema     string
	text       string
	truncated  bool
	info       fingerprint.Info
	isOverflow bool

	count         uint64
	units         uint64 // units of work the statement ran in (finder.go)
	commands      [len(statementCommands)]uint64
	errors        uint64
	prepareErrors uint64
	errCodes      map[uint16]uint64
	errOther      uint64
	incomplete    uint64
	rowsSent      uint64
	rowsAffected  uint64
	warnings      uint64
	bytesIn       uint64
	bytesOut      uint64
	latency       Histogram
	ttfb          Histogram
	firstSeen     time.Time
	lastSeen      time.Time
	users         boundedSet
	schemas       boundedSet // overflow entry only
	tags          []fingerprint.Tag

	rawSample        string
	rawSampleLatency time.Duration

	dirty     bool
	published *DigestStats
}

func newOverflowAggregate() *aggregate {
	return &aggregate{
		digest: OverflowDigest, text: OverflowFingerprint, isOverflow: true,
		users: boundedSet{limit: MaxUsers}, schemas: boundedSet{limit: MaxUsers},
		dirty: true,
	}
}

// record adds one statement event. at is the event's time (Sent, or now
// when unknown) and lat is ev.Latency().
func (a *aggregate) record(ev *protocol.Event, tags []fingerprint.Tag, at time.Time, lat time.Duration, logLiterals bool) {
	a.dirty = true
	if i := statementSlot(ev.Command); i >= 0 {
		a.commands[i]++
	}
	a.bytesIn += ev.BytesIn
	a.bytesOut += ev.BytesOut
	a.seen(at)
	switch ev.Command {
	case protocol.ComStmtPrepare:
		// Not an execution: the server's digest table does not count it
		// either. Its failures are kept apart from execution errors.
		if ev.ErrorCode != 0 {
			a.prepareErrors++
		}
		return
	case protocol.ComStmtFetch:
		// Cursor reads continue the execution that opened the cursor.
		a.rowsSent += ev.RowsSent
		if ev.ErrorCode != 0 {
			a.errors++
			a.addErrorCode(ev.ErrorCode)
		}
		return
	}
	a.count++
	if ev.ErrorCode != 0 {
		a.errors++
		a.addErrorCode(ev.ErrorCode)
	}
	a.rowsSent += ev.RowsSent
	a.rowsAffected += ev.RowsAffected
	a.warnings += ev.Warnings

	var latency time.Duration
	if ev.Incomplete {
		a.incomplete++
	} else {
		if !ev.Sent.IsZero() && !ev.End.IsZero() {
			latency = lat
			a.latency.Record(latency)
		}
		if !ev.Sent.IsZero() && !ev.FirstResponse.IsZero() {
			a.ttfb.Record(ev.TimeToFirstByte())
		}
	}

	a.users.add(ev.User)
	if a.isOverflow {
		a.schemas.add(ev.Schema)
	}
	for _, t := range tags {
		a.addTag(t)
	}
	if logLiterals && ev.SQL != "" && (a.rawSample == "" || latency > a.rawSampleLatency) &&
		!mayHoldSecret(a.info.Kind, ev.SQL) {
		a.rawSample, a.rawSampleLatency = cutUTF8(withParams(ev), MaxRawSample), latency
	}
}

// withParams returns the statement text of ev, with the decoded parameters
// of an execution in place of its placeholders.
func withParams(ev *protocol.Event) string {
	if ev.Command != protocol.ComStmtExecute || len(ev.Params) == 0 {
		return ev.SQL
	}
	return string(fingerprint.AppendInterpolated(make([]byte, 0, len(ev.SQL)+16*len(ev.Params)), ev.SQL,
		func(dst []byte, i int) []byte {
			if i >= len(ev.Params) || len(dst) > MaxRawSample {
				return append(dst, '?')
			}
			return ev.Params[i].AppendSQLLiteral(dst)
		}))
}

// traceTags are sqlcommenter keys whose values are unique per request; they
// would only fill the bounded tag set with noise.
func isTraceTag(key string) bool { return key == "traceparent" || key == "tracestate" }

func (a *aggregate) seen(at time.Time) {
	if a.firstSeen.IsZero() || at.Before(a.firstSeen) {
		a.firstSeen = at
	}
	if at.After(a.lastSeen) {
		a.lastSeen = at
	}
}

// addErrorCode counts code in the bounded per-code map.
func (a *aggregate) addErrorCode(code uint16) {
	switch {
	case a.errCodes[code] > 0 || len(a.errCodes) < MaxErrorCodes:
		if a.errCodes == nil {
			a.errCodes = make(map[uint16]uint64)
		}
		a.errCodes[code]++
	default:
		a.errOther++
	}
}

func (a *aggregate) addTag(t fingerprint.Tag) {
	if isTraceTag(t.Key) || len(a.tags) >= MaxTags {
		return
	}
	for _, have := range a.tags {
		if have == t {
			return
		}
	}
	a.tags = append(a.tags, fingerprint.Tag{Key: strings.Clone(t.Key), Value: strings.Clone(t.Value)})
}

// snapshot returns the immutable view of a, building a new one only when a
// changed since the last call. Unchanged aggregates are shared between
// consecutive snapshots, which keeps publishing cheap when few keys change.
func (a *aggregate) snapshot() *DigestStats {
	if !a.dirty && a.published != nil {
		return a.published
	}
	d := &DigestStats{
		Digest:               a.digest,
		Schema:               a.schema,
		Fingerprint:          a.text,
		FingerprintTruncated: a.truncated,
		Kind:                 a.info.Kind,
		Tables:               slices.Clone(a.info.Tables),
		ParseError:           a.info.ParseError,
		Count:                a.count,
		Units:                a.units,
		Commands:             make(map[string]uint64, 1),
		Errors:               a.errors,
		PrepareErrors:        a.prepareErrors,
		ErrorsOtherCodes:     a.errOther,
		Incomplete:           a.incomplete,
		RowsSent:             a.rowsSent,
		RowsAffected:         a.rowsAffected,
		Warnings:             a.warnings,
		BytesIn:              a.bytesIn,
		BytesOut:             a.bytesOut,
		Latency:              a.latency.Summary(),
		TTFB:                 a.ttfb.Summary(),
		LatencyHistogram:     a.latency.Clone(),
		TTFBHistogram:        a.ttfb.Clone(),
		FirstSeen:            a.firstSeen,
		LastSeen:             a.lastSeen,
		Users:                a.users.sorted(),
		UsersTruncated:       a.users.truncated,
		SampleRaw:            a.rawSample,
	}
	if d.Tables == nil {
		d.Tables = []string{}
	}
	for i, n := range a.commands {
		if n != 0 {
			d.Commands[statementCommands[i].String()] = n
		}
	}
	if len(a.errCodes) > 0 {
		d.ErrorsByCode = maps.Clone(a.errCodes)
	}
	if a.isOverflow {
		d.Schemas, d.SchemasTruncated = a.schemas.sorted(), a.schemas.truncated
	}
	if len(a.tags) > 0 {
		d.Tags = make([]string, len(a.tags))
		for i, t := range a.tags {
			d.Tags[i] = t.Key + "=" + t.Value
		}
		slices.Sort(d.Tags)
	}
	a.published, a.dirty = d, false
	return d
}

// boundedSet is a small set of strings that stops growing at limit and
// remembers that it did.
type boundedSet struct {
	items     []string
	limit     int
	truncated bool
}

func (s *boundedSet) add(v string) {
	for _, have := range s.items {
		if have == v {
			return
		}
	}
	if len(s.items) >= s.limit {
		s.truncated = true
		return
	}
	// Clone so that the set does not keep the event's memory alive.
	s.items = append(s.items, strings.Clone(v))
}

func (s *boundedSet) sorted() []string {
	out := slices.Clone(s.items)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}

// cutUTF8 returns a copy of at most n bytes of s, cut at a rune boundary
// when s is valid UTF-8 there.
func cutUTF8(s string, n int) string {
	if len(s) > n {
		cut := n
		// s[cut] is the first byte dropped; a continuation byte means its rune
		// started before cut.
		for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
			cut--
		}
		if !utf8.RuneStart(s[cut]) {
			cut = n // not UTF-8 here: cut at n
		}
		s = s[:cut]
	}
	return strings.Clone(s)
}
