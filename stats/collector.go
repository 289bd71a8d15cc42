package stats

import (
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultTopDigests is the number of per-digest series NewCollector exports
// when asked for zero or fewer.
const DefaultTopDigests = 100

// OtherDigest is the digest label of the series that folds together every
// aggregate not exported on its own (the overflow entry included).
const OtherDigest = "other"

// maxInfoFingerprint caps the fingerprint label of querylens_statement_info,
// in bytes.
const maxInfoFingerprint = 200

// stickyMargin is how much larger a digest's total time must be than that
// of the weakest exported digest to take its place (see collector.choose).
const stickyMargin = 1.25

// DurationBuckets returns the le bounds, in seconds, of
// querylens_statement_duration_seconds.
func DurationBuckets() []float64 { return slices.Clone(durationBuckets) }

var durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// NewCollector returns a Prometheus collector for e's statistics, in the
// manner of client_golang's ClusterManager example: the engine knows nothing
// about Prometheus, and each scrape turns the latest Snapshot into const
// metrics. The collector reads snapshots only, so a scrape never waits for
// the writer; its numbers are at most one PublishInterval old (the dropped
// count is live).
//
// Per-digest series are exported for at most topDigests (digest, schema)
// keys, chosen by total latency (DefaultTopDigests when topDigests <= 0);
// everything else is folded into one series with digest="other",
// schema="". Membership is sticky: once exported, a key keeps its series
// until another key's total time exceeds its own by 25%. Every change of
// membership moves counts between a key's series and "other" (so "other"
// can go down, which rate() reads as a counter reset); stickiness keeps such
// changes rare once the workload's ranking settles.
//
// Register it with an injected registry: reg.MustRegister(NewCollector(e, 100)).
func NewCollector(e *Engine, topDigests int) prometheus.Collector {
	if topDigests <= 0 {
		topDigests = DefaultTopDigests
	}
	dl := []string{"digest", "schema"}
	return &collector{
		e:    e,
		topK: topDigests,
		commands: prometheus.NewDesc("querylens_commands_total",
			"Commands seen, by command kind (statements and SQL-less commands such as ping, init_db, quit; connect counts logins).",
			[]string{"command"}, nil),
		commandErrors: prometheus.NewDesc("querylens_command_errors_total",
			"Commands that ended in an ERR packet, by command kind (connect counts refused logins).",
			[]string{"command"}, nil),
		statements: prometheus.NewDesc("querylens_statements_total",
			"Statements per (digest, schema); digest=\"other\" folds together all statements not exported on their own.",
			dl, nil),
		errors: prometheus.NewDesc("querylens_statement_errors_total",
			"Statements that ended in an ERR packet, per (digest, schema).", dl, nil),
		rowsSent: prometheus.NewDesc("querylens_statement_rows_sent_total",
			"Rows returned in result sets, per (digest, schema).", dl, nil),
		duration: prometheus.NewDesc("querylens_statement_duration_seconds",
			"Statement latency from the command's first byte to the response's last byte, per (digest, schema); statements whose response never ended are not included.",
			dl, nil),
		info: prometheus.NewDesc("querylens_statement_info",
			"Always 1: the statement kind and normalized text (at most 200 bytes) of each exported (digest, schema).",
			[]string{"digest", "schema", "kind", "fingerprint"}, nil),
		digests: prometheus.NewDesc("querylens_digests",
			"(digest, schema) keys being tracked; at most the configured digest limit.", nil, nil),
		overflow: prometheus.NewDesc("querylens_digest_overflow_total",
			"Statements of new (digest, schema) keys folded into the overflow entry because the digest limit was reached.",
			nil, nil),
		dropped: prometheus.NewDesc("querylens_events_dropped_total",
			"Events dropped because the statistics queue was full.", nil, nil),
		events: prometheus.NewDesc("querylens_events_total",
			"Events applied to the statistics.", nil, nil),
		findings: prometheus.NewDesc("querylens_findings_total",
			"Distinct findings (wasteful patterns: N+1, repeated reads, connection churn, ...) that appeared, by kind.",
			[]string{"kind"}, nil),
		findingUnits: prometheus.NewDesc("querylens_finding_units_total",
			"Units of work (transactions, traced requests, bursts) in which a wasteful pattern was seen, by kind.",
			[]string{"kind"}, nil),
		transactions: prometheus.NewDesc("querylens_transactions_total",
			"Transactions seen (from the server's in-transaction status flag).", nil, nil),
		members: map[memberKey]struct{}{},
	}
}

type collector struct {
	e    *Engine
	topK int

	commands, commandErrors                  *prometheus.Desc
	statements, errors, rowsSent, duration   *prometheus.Desc
	info, digests, overflow, dropped, events *prometheus.Desc
	findings, findingUnits, transactions     *prometheus.Desc

	mu      sync.Mutex // guards members; Collect may run concurrently
	members map[memberKey]struct{}
}

type memberKey struct{ digest, schema string }

var _ prometheus.Collector = (*collector)(nil)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.commands, c.commandErrors, c.statements, c.errors, c.rowsSent,
		c.duration, c.info, c.digests, c.overflow, c.dropped, c.events,
		c.findings, c.findingUnits, c.transactions,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.e.Snapshot()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}

	for cmd, n := range s.Commands {
		counter(c.commands, n, cmd)
	}
	for cmd, n := range s.CommandErrors {
		counter(c.commandErrors, n, cmd)
	}
	ch <- prometheus.MustNewConstMetric(c.digests, prometheus.GaugeValue, float64(len(s.Digests)))
	counter(c.overflow, s.OverflowEvents)
	counter(c.dropped, max(s.DroppedEvents, c.e.Dropped()))
	counter(c.events, s.Events)
	for _, k := range FindingKinds {
		counter(c.findings, s.FindingsCreated[k], k)
		counter(c.findingUnits, s.FindingUnits[k], k)
	}
	counter(c.transactions, s.Transactions.Count)

	top, rest := c.choose(s.Digests)
	for _, d := range top {
		digest, schema := labelValue(d.Digest), labelValue(d.Schema)
		c.digestSeries(ch, d, digest, schema)
		ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1,
			digest, schema, labelValue(d.Kind), cutUTF8(labelValue(d.Fingerprint), maxInfoFingerprint))
	}
	other := &DigestStats{}
	for _, d := range rest {
		other.addForCollector(d)
	}
	if s.Overflow != nil {
		other.addForCollector(s.Overflow)
	}
	c.digestSeries(ch, other, OtherDigest, "")
}

// digestSeries sends the per-digest counters and histogram of d.
func (c *collector) digestSeries(ch chan<- prometheus.Metric, d *DigestStats, digest, schema string) {
	ch <- prometheus.MustNewConstMetric(c.statements, prometheus.CounterValue, float64(d.Count), digest, schema)
	ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(d.Errors), digest, schema)
	ch <- prometheus.MustNewConstMetric(c.rowsSent, prometheus.CounterValue, float64(d.RowsSent), digest, schema)
	h := &d.LatencyHistogram
	ch <- prometheus.MustNewConstHistogram(c.duration, h.Count(), h.Sum().Seconds(),
		h.Cumulative(durationBuckets), digest, schema)
}

// addForCollector adds the numbers the collector exports from o into d.
func (d *DigestStats) addForCollector(o *DigestStats) {
	d.Count += o.Count
	d.Errors += o.Errors
	d.RowsSent += o.RowsSent
	d.LatencyHistogram.Merge(&o.LatencyHistogram)
}

// choose splits digests (ordered by total time, descending) into the ones
// exported on their own and the rest. Members stay until a non-member's
// total time exceeds the weakest member's by stickyMargin, or until their
// key disappears (after a Reset).
func (c *collector) choose(digests []*DigestStats) (top, rest []*DigestStats) {
	c.mu.Lock()
	defer c.mu.Unlock()

	present := make(map[memberKey]*DigestStats, len(digests))
	for _, d := range digests {
		present[memberKey{d.Digest, d.Schema}] = d
	}
	for k := range c.members {
		if present[k] == nil {
			delete(c.members, k)
		}
	}
	for _, d := range digests {
		k := memberKey{d.Digest, d.Schema}
		if _, ok := c.members[k]; ok {
			continue
		}
		if len(c.members) < c.topK {
			c.members[k] = struct{}{}
			continue
		}
		var weakest memberKey
		var weakestTotal float64
		first := true
		for m := range c.members {
			t := present[m].TotalTime().Seconds()
			if first || t < weakestTotal || (t == weakestTotal && compareByKey(present[m], present[weakest]) > 0) {
				weakest, weakestTotal, first = m, t, false
			}
		}
		if d.TotalTime().Seconds() <= weakestTotal*stickyMargin {
			break // digests are in descending order: no later one qualifies
		}
		delete(c.members, weakest)
		c.members[k] = struct{}{}
	}
	for _, d := range digests {
		if _, ok := c.members[memberKey{d.Digest, d.Schema}]; ok {
			top = append(top, d)
		} else {
			rest = append(rest, d)
		}
	}
	return top, rest
}

// labelValue makes s valid UTF-8, as label values must be; schema names and
// fingerprints may hold any bytes.
func labelValue(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
