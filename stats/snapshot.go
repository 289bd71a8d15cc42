package stats

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// SnapshotVersion is the version of the JSON form of Snapshot and of the
// documents the HTTP API serves. It changes when a field changes meaning or
// goes away; new fields do not change it.
const SnapshotVersion = 1

// OverflowDigest and OverflowFingerprint name the aggregate that statements
// of new (digest, schema) keys fold into once Config.MaxDigests is reached.
const (
	OverflowDigest      = "overflow"
	OverflowFingerprint = "<other statements>"
)

// Snapshot is an immutable view of the engine's aggregates at one moment.
// Nothing in it is modified after it is published, so any number of
// goroutines may read it; callers must not modify it either.
//
// Per-digest numbers (Digests, Overflow) count from Since, the engine's start
// or its last Reset. Engine-wide counters (Commands, CommandErrors, Events,
// DroppedEvents, OverflowEvents) count from the engine's start and never
// decrease, as Prometheus counters must not.
type Snapshot struct {
	Version int       `json:"version"`
	Seq     uint64    `json:"seq"`   // publication number, 1 for the first
	Taken   time.Time `json:"taken"` // when it was published (Config.Now)
	Since   time.Time `json:"since"` // when the per-digest numbers start

	// Digests holds one entry per (digest, schema), ordered by total latency
	// (descending), then digest, then schema.
	Digests []*DigestStats `json:"digests"`
	// Overflow aggregates the statements of keys beyond MaxDigests (Digest
	// OverflowDigest, Schemas lists the schemas seen). It is never nil.
	Overflow   *DigestStats `json:"overflow"`
	MaxDigests int          `json:"max_digests"`

	// Commands counts every applied event by Command.String() ("query",
	// "ping", "connect", ...), statements and SQL-less commands alike;
	// CommandErrors counts those of them that ended in an ERR packet.
	Commands      map[string]uint64 `json:"commands"`
	CommandErrors map[string]uint64 `json:"command_errors"`

	Events         uint64 `json:"events"`           // events applied
	DroppedEvents  uint64 `json:"dropped_events"`   // events Observe dropped because the queue was full
	OverflowEvents uint64 `json:"overflow_events"`  // statements folded into Overflow
	Panics         uint64 `json:"panics,omitempty"` // events skipped because handling them panicked (a bug)

	// Findings are the wasteful patterns seen since Since, by time spent
	// (descending); Transactions summarises the transactions seen.
	Findings     []*Finding       `json:"findings"`
	Transactions TransactionStats `json:"transactions"`
	// FindingsCreated counts, by kind, the findings that appeared, and
	// FindingUnits the units of work in which a pattern was seen. Both
	// count from the engine's start (Prometheus counters), as does
	// FindingsDropped: findings and units of work beyond the finder's
	// bounds.
	FindingsCreated map[string]uint64 `json:"findings_created"`
	FindingUnits    map[string]uint64 `json:"finding_units"`
	FindingsDropped uint64            `json:"findings_dropped,omitempty"`
}

// DigestStats aggregates the statements of one (digest, schema) key.
type DigestStats struct {
	Digest               string   `json:"digest"` // 16 hex digits, or OverflowDigest
	Schema               string   `json:"schema"` // default schema when the statements ran
	Fingerprint          string   `json:"fingerprint"`
	FingerprintTruncated bool     `json:"fingerprint_truncated,omitempty"`
	Kind                 string   `json:"kind"`   // statement kind from fingerprint.Describe
	Tables               []string `json:"tables"` // tables touched, from fingerprint.Describe
	ParseError           bool     `json:"parse_error,omitempty"`

	// Count counts executions, as the server's digest table does: text
	// queries, prepared-statement executes and bulk executes. Commands
	// splits them by command kind ("query", "stmt_execute", ...) and also
	// tallies the commands that are not executions: "stmt_prepare" and
	// "stmt_fetch" (cursor reads, whose rows are in RowsSent).
	Count uint64 `json:"count"`
	// Units counts the units of work (transactions, traced requests,
	// bursts; see Finding) in which the statement ran.
	Units    uint64            `json:"units,omitempty"`
	Commands map[string]uint64 `json:"commands"`
	// PrepareErrors counts COM_STMT_PREPAREs of this statement that failed;
	// they are not in Errors, which counts failed executions.
	PrepareErrors uint64 `json:"prepare_errors,omitempty"`

	// Errors counts statements that ended in an ERR packet. ErrorsByCode
	// splits them by error number for at most MaxErrorCodes codes;
	// ErrorsOtherCodes counts the rest.
	Errors           uint64            `json:"errors"`
	ErrorsByCode     map[uint16]uint64 `json:"errors_by_code,omitempty"`
	ErrorsOtherCodes uint64            `json:"errors_other_codes,omitempty"`
	// Incomplete counts statements whose response never ended (the
	// connection closed or the decoder lost track). They are not errors, and
	// their latency is unknown, so they are not in the histograms.
	Incomplete uint64 `json:"incomplete"`

	RowsSent     uint64 `json:"rows_sent"`
	RowsAffected uint64 `json:"rows_affected"`
	Warnings     uint64 `json:"warnings"`
	BytesIn      uint64 `json:"bytes_in"`  // client → server
	BytesOut     uint64 `json:"bytes_out"` // server → client

	// Latency (command sent → last response byte) and TTFB (command sent →
	// first response byte) summarize the histograms below, which hold only
	// statements whose times are known.
	Latency          DurationSummary `json:"latency_seconds"`
	TTFB             DurationSummary `json:"ttfb_seconds"`
	LatencyHistogram Histogram       `json:"latency_histogram"`
	TTFBHistogram    Histogram       `json:"ttfb_histogram"`

	FirstSeen time.Time `json:"first_seen,omitzero"` // absent when Count is 0
	LastSeen  time.Time `json:"last_seen,omitzero"`

	// Users lists the users seen, at most MaxUsers of them.
	Users          []string `json:"users"`
	UsersTruncated bool     `json:"users_truncated,omitempty"`
	// Schemas lists the schemas seen, at most MaxUsers of them; only the
	// overflow entry, which spans schemas, sets it.
	Schemas          []string `json:"schemas,omitempty"`
	SchemasTruncated bool     `json:"schemas_truncated,omitempty"`
	// Tags lists distinct sqlcommenter key=value pairs seen (trace ids
	// excluded), at most MaxTags of them.
	Tags []string `json:"tags,omitempty"`

	// SampleRaw is the raw text of the slowest statement, literals included.
	// It stays empty unless Config.LogLiterals is set: the normalized text in
	// Fingerprint is the sample otherwise.
	SampleRaw string `json:"sample_raw,omitempty"`
}

// TotalTime returns the summed latency of the statements.
func (d *DigestStats) TotalTime() time.Duration { return d.LatencyHistogram.Sum() }

// compareByTotalTime orders by total latency descending, then by digest and
// schema ascending: Snapshot.Digests order.
func compareByTotalTime(a, b *DigestStats) int {
	if c := cmp.Compare(b.LatencyHistogram.Sum(), a.LatencyHistogram.Sum()); c != 0 {
		return c
	}
	return compareByKey(a, b)
}

func compareByKey(a, b *DigestStats) int {
	if c := cmp.Compare(a.Digest, b.Digest); c != 0 {
		return c
	}
	return cmp.Compare(a.Schema, b.Schema)
}

// Merge returns a snapshot that combines snaps as if one engine had seen
// all of their events: per-(digest, schema) entries are added up (histograms
// bucket by bucket), overflow entries merge into one, and counters add. Use
// it to merge snapshots from several proxies. Merge does not enforce
// MaxDigests; the bounded per-entry sets stay bounded. Nil snapshots are
// skipped. The result shares nothing with its inputs.
func Merge(snaps ...*Snapshot) *Snapshot {
	out := &Snapshot{
		Version:       SnapshotVersion,
		Overflow:      newOverflowStats(),
		Commands:      map[string]uint64{},
		CommandErrors: map[string]uint64{},

		FindingsCreated: map[string]uint64{},
		FindingUnits:    map[string]uint64{},
	}
	var findings [][]*Finding
	type key struct{ digest, schema string }
	byKey := map[key]*DigestStats{}
	for _, s := range snaps {
		if s == nil {
			continue
		}
		out.Seq = max(out.Seq, s.Seq)
		if s.Taken.After(out.Taken) {
			out.Taken = s.Taken
		}
		if out.Since.IsZero() || (!s.Since.IsZero() && s.Since.Before(out.Since)) {
			out.Since = s.Since
		}
		out.MaxDigests = max(out.MaxDigests, s.MaxDigests)
		addCounts(out.Commands, s.Commands)
		addCounts(out.CommandErrors, s.CommandErrors)
		out.Events += s.Events
		out.DroppedEvents += s.DroppedEvents
		out.OverflowEvents += s.OverflowEvents
		out.Panics += s.Panics
		findings = append(findings, s.Findings)
		out.Transactions.merge(&s.Transactions)
		addCounts(out.FindingsCreated, s.FindingsCreated)
		addCounts(out.FindingUnits, s.FindingUnits)
		out.FindingsDropped += s.FindingsDropped
		for _, d := range s.Digests {
			k := key{d.Digest, d.Schema}
			if m := byKey[k]; m != nil {
				m.merge(d)
			} else {
				c := &DigestStats{Digest: d.Digest, Schema: d.Schema}
				c.merge(d)
				byKey[k] = c
			}
		}
		if s.Overflow != nil {
			out.Overflow.merge(s.Overflow)
		}
	}
	out.Digests = slices.SortedFunc(maps.Values(byKey), compareByTotalTime)
	if out.Digests == nil {
		out.Digests = []*DigestStats{}
	}
	out.Findings = mergeFindings(findings...)
	// What the sides saw of each statement adds up: so do the units in
	// which it ran, whether or not a side had the finding.
	for _, f := range out.Findings {
		if m := byKey[key{f.Digest, f.Schema}]; m != nil && m.Units > 0 {
			f.UnitsSeen = m.Units
		}
		f.Title = FindingTitle(f)
	}
	return out
}

func newOverflowStats() *DigestStats {
	return &DigestStats{
		Digest: OverflowDigest, Fingerprint: OverflowFingerprint,
		Commands: map[string]uint64{}, Tables: []string{}, Users: []string{},
	}
}

// merge adds o into d, which must have the same key; the summaries are
// recomputed from the merged histograms.
func (d *DigestStats) merge(o *DigestStats) {
	if d.Fingerprint == "" {
		d.Fingerprint, d.FingerprintTruncated = o.Fingerprint, o.FingerprintTruncated
	}
	if d.Kind == "" {
		d.Kind, d.Tables, d.ParseError = o.Kind, slices.Clone(o.Tables), o.ParseError
	}
	if d.Tables == nil {
		d.Tables = []string{}
	}
	d.Count += o.Count
	d.Units += o.Units
	if d.Commands == nil {
		d.Commands = map[string]uint64{}
	}
	addCounts(d.Commands, o.Commands)
	d.Errors += o.Errors
	d.PrepareErrors += o.PrepareErrors
	d.ErrorsOtherCodes += o.ErrorsOtherCodes
	for code, n := range o.ErrorsByCode {
		switch {
		case d.ErrorsByCode[code] > 0 || len(d.ErrorsByCode) < MaxErrorCodes:
			if d.ErrorsByCode == nil {
				d.ErrorsByCode = map[uint16]uint64{}
			}
			d.ErrorsByCode[code] += n
		default:
			d.ErrorsOtherCodes += n
		}
	}
	d.Incomplete += o.Incomplete
	d.RowsSent += o.RowsSent
	d.RowsAffected += o.RowsAffected
	d.Warnings += o.Warnings
	d.BytesIn += o.BytesIn
	d.BytesOut += o.BytesOut

	// Keep the raw sample of whichever side saw the slower statement.
	if o.SampleRaw != "" && (d.SampleRaw == "" || o.LatencyHistogram.Max() > d.LatencyHistogram.Max()) {
		d.SampleRaw = o.SampleRaw
	}
	d.LatencyHistogram = mergeHistograms(&d.LatencyHistogram, &o.LatencyHistogram)
	d.TTFBHistogram = mergeHistograms(&d.TTFBHistogram, &o.TTFBHistogram)
	d.Latency = d.LatencyHistogram.Summary()
	d.TTFB = d.TTFBHistogram.Summary()

	if d.FirstSeen.IsZero() || (!o.FirstSeen.IsZero() && o.FirstSeen.Before(d.FirstSeen)) {
		d.FirstSeen = o.FirstSeen
	}
	if o.LastSeen.After(d.LastSeen) {
		d.LastSeen = o.LastSeen
	}
	d.Users, d.UsersTruncated = unionBounded(d.Users, o.Users, MaxUsers, d.UsersTruncated || o.UsersTruncated)
	if len(o.Schemas) > 0 || len(d.Schemas) > 0 {
		d.Schemas, d.SchemasTruncated = unionBounded(d.Schemas, o.Schemas, MaxUsers, d.SchemasTruncated || o.SchemasTruncated)
	}
	d.Tags, _ = unionBounded(d.Tags, o.Tags, MaxTags, false)
	if len(d.Tags) == 0 {
		d.Tags = nil
	}
}

// mergeHistograms returns a new histogram holding a and b, trimmed.
func mergeHistograms(a, b *Histogram) Histogram {
	m := a.Clone()
	m.Merge(b)
	return m.Clone()
}

func addCounts[K comparable](dst, src map[K]uint64) {
	for k, n := range src {
		dst[k] += n
	}
}

// unionBounded returns the sorted union of a and b, cut to at most limit
// elements, and whether anything was cut (or truncated already was).
func unionBounded(a, b []string, limit int, truncated bool) ([]string, bool) {
	u := slices.Concat(a, b)
	slices.Sort(u)
	u = slices.Compact(u)
	if len(u) > limit {
		u, truncated = u[:limit], true
	}
	if u == nil {
		u = []string{}
	}
	return u, truncated
}
