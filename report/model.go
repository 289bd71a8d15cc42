package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/querylens/querylens/stats"
)

// model is what the text and markdown reports show, computed once.
type model struct {
	cfg  Config
	s    *stats.Snapshot
	span time.Duration // Taken − Since; 0 when unknown

	// The whole snapshot, overflow included.
	statements, errors, prepareErrors, incomplete uint64
	rowsSent, rowsAffected, warnings              uint64
	bytesIn, bytesOut                             uint64
	totalTime                                     time.Duration
	latency, ttfb                                 stats.Histogram
	fingerprints                                  int // distinct digests
	overflow                                      *stats.DigestStats

	// The entries that pass the filters, ranked; top is their head.
	matched      []*stats.DigestStats
	top          []*stats.DigestStats
	rank         map[*stats.DigestStats]int // 1-based, in matched
	matchedCalls uint64
	matchedTime  time.Duration
}

func newModel(s *stats.Snapshot, cfg Config) *model {
	m := &model{cfg: cfg, s: s, overflow: s.Overflow}
	if m.overflow == nil {
		m.overflow = stats.Merge().Overflow
	}
	if !s.Since.IsZero() && s.Taken.After(s.Since) {
		m.span = s.Taken.Sub(s.Since)
	}
	digests := map[string]bool{}
	for _, d := range append(slices.Clip(s.Digests), m.overflow) {
		m.statements += d.Count
		m.errors += d.Errors
		m.prepareErrors += d.PrepareErrors
		m.incomplete += d.Incomplete
		m.rowsSent += d.RowsSent
		m.rowsAffected += d.RowsAffected
		m.warnings += d.Warnings
		m.bytesIn += d.BytesIn
		m.bytesOut += d.BytesOut
		m.totalTime += d.TotalTime()
		m.latency.Merge(&d.LatencyHistogram)
		m.ttfb.Merge(&d.TTFBHistogram)
		if d != m.overflow {
			digests[d.Digest] = true
		}
	}
	m.fingerprints = len(digests)

	m.matched = selectEntries(s, cfg)
	m.rank = make(map[*stats.DigestStats]int, len(m.matched))
	for i, d := range m.matched {
		m.rank[d] = i + 1
		m.matchedCalls += d.Count
		m.matchedTime += d.TotalTime()
	}
	m.top = m.matched[:min(len(m.matched), cfg.Top)]
	return m
}

// filtered reports whether a filter is set.
func (m *model) filtered() bool { return m.cfg.FilterSchema || m.cfg.Query != "" }

// filterText describes the filters as flags.
func (m *model) filterText() string {
	var parts []string
	if m.cfg.FilterSchema {
		parts = append(parts, "--schema "+quoteArg(m.cfg.Schema))
	}
	if m.cfg.Query != "" {
		parts = append(parts, "--q "+quoteArg(m.cfg.Query))
	}
	return strings.Join(parts, " ")
}

// quoteArg quotes a flag value when a shell would need it.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// perSecond returns n per second of the report's span, or -1 when the
// span is unknown.
func (m *model) perSecond(n float64) float64 {
	if m.span <= 0 {
		return -1
	}
	return n / m.span.Seconds()
}

// fmtRateOf formats perSecond(n), "-" when unknown.
func (m *model) fmtRateOf(n float64) string {
	r := m.perSecond(n)
	if r < 0 {
		return "-"
	}
	return fmtRate(r)
}

// share formats d's part of the snapshot's total time.
func (m *model) share(d time.Duration) string {
	return fmtPercent(d.Seconds(), m.totalTime.Seconds())
}

// rest sums the matched entries beyond the top: the profile's MISC row.
type rest struct {
	entries                  int
	calls, timed, rows, errs uint64
	time                     time.Duration
}

func (m *model) rest() rest {
	var r rest
	for _, d := range m.matched[len(m.top):] {
		r.entries++
		r.calls += d.Count
		r.timed += d.LatencyHistogram.Count()
		r.rows += d.RowsSent
		r.errs += d.Errors
		r.time += d.TotalTime()
	}
	return r
}

// showOverflow reports whether the overflow entry gets a profile row: it
// has statements, and no filter is set (it spans schemas and has no
// fingerprint, so filters cannot apply to it).
func (m *model) showOverflow() bool { return m.overflow.Count > 0 && !m.filtered() }

// erring returns the entries to list in the Errors section: the matched
// ones with failed executions or prepares (and the overflow entry when it
// is shown), most errors first, then by rank; at most Top of them, and
// how many more there were.
func (m *model) erring() ([]*stats.DigestStats, int) {
	var out []*stats.DigestStats
	for _, d := range m.matched {
		if d.Errors > 0 || d.PrepareErrors > 0 {
			out = append(out, d)
		}
	}
	if m.showOverflow() && (m.overflow.Errors > 0 || m.overflow.PrepareErrors > 0) {
		out = append(out, m.overflow)
	}
	slices.SortStableFunc(out, func(a, b *stats.DigestStats) int {
		return cmp.Compare(b.Errors+b.PrepareErrors, a.Errors+a.PrepareErrors)
	})
	more := max(len(out)-m.cfg.Top, 0)
	return out[:len(out)-more], more
}

// rankText is d's rank, or "-" for the overflow entry.
func (m *model) rankText(d *stats.DigestStats) string {
	if r, ok := m.rank[d]; ok {
		return fmtCount(uint64(r))
	}
	return "-"
}

// schemaText names d's schema(s) for tables.
func schemaText(d *stats.DigestStats) string {
	if d.Digest == stats.OverflowDigest {
		s := strings.Join(d.Schemas, ", ")
		if d.SchemasTruncated {
			s += ", ..."
		}
		return s
	}
	if d.Schema == "" {
		return "(none)"
	}
	return d.Schema
}

// perCall formats n per call of d, "-" without calls.
func perCall(n, calls uint64) string {
	if calls == 0 {
		return "-"
	}
	return fmtNumber(float64(n) / float64(calls))
}

// withPer formats a total with its mean per call (or per statement) when
// it is not zero.
func withPer(n, calls uint64, per string) string {
	if n == 0 || calls == 0 {
		return fmtCount(n)
	}
	return fmt.Sprintf("%s (%s per %s)", fmtCount(n), perCall(n, calls), per)
}

// errorsText sums up the snapshot's errors.
func (m *model) errorsText() string {
	s := fmt.Sprintf("%s (%s of statements)", fmtCount(m.errors), fmtPercent(float64(m.errors), float64(m.statements)))
	if m.prepareErrors > 0 {
		s += ", and " + plural(m.prepareErrors, "failed prepare", "failed prepares")
	}
	return s
}

// entryErrorsText sums up d's errors, with codes, already formatted.
func entryErrorsText(d *stats.DigestStats, codes string) string {
	if d.Errors == 0 {
		return "0"
	}
	return fmt.Sprintf("%s (%s of calls): %s", fmtCount(d.Errors), fmtPercent(float64(d.Errors), float64(d.Count)), codes)
}

// kindText is "select", "select on orders, items", or why it is unknown.
func kindText(d *stats.DigestStats) string {
	k := d.Kind
	if d.ParseError || k == "" {
		k = "unknown (not understood by the parser)"
	}
	if len(d.Tables) > 0 {
		k += " on " + strings.Join(d.Tables, ", ")
	}
	return k
}

// usersText lists d's users.
func usersText(d *stats.DigestStats) string {
	if len(d.Users) == 0 {
		return "-"
	}
	s := strings.Join(d.Users, ", ")
	if d.UsersTruncated {
		s += ", ... (more than the " + fmtCount(stats.MaxUsers) + " kept)"
	}
	return s
}

// latencyRow returns the summary columns of h: total, min, mean, p50,
// p95, p99, max. TTFB has no meaningful total, so withTotal is false for it.
func latencyRow(h *stats.Histogram, withTotal bool) []string {
	if h.Count() == 0 {
		return []string{"-", "-", "-", "-", "-", "-", "-"}
	}
	total := "-"
	if withTotal {
		total = fmtDuration(h.Sum())
	}
	return []string{
		total, fmtDuration(h.Min()), fmtDuration(h.Mean()), fmtDuration(h.Quantile(0.5)),
		fmtDuration(h.Quantile(0.95)), fmtDuration(h.Quantile(0.99)), fmtDuration(h.Max()),
	}
}

// latencyHead are the column names of latencyRow.
var latencyHead = [...]string{"total", "min", "mean", "p50", "p95", "p99", "max"}

func writeJSON(w io.Writer, s *stats.Snapshot, cfg Config) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(jsonReport{DigestList: DigestList(s, cfg), Findings: findingsOrEmpty(selectFindings(s, cfg)),
		Transactions: s.Transactions})
}

// jsonReport is what --format json prints: the API's digest list with the
// findings that pass the same filters.
type jsonReport struct {
	*stats.DigestList
	Findings     []*stats.Finding       `json:"findings"`
	Transactions stats.TransactionStats `json:"transactions"`
}

func findingsOrEmpty(f []*stats.Finding) []*stats.Finding {
	if f == nil {
		return []*stats.Finding{}
	}
	return f
}
