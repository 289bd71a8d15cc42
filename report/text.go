package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/querylens/querylens/stats"
)

// fingerprintWidth is where the profile cuts fingerprints.
const fingerprintWidth = 60

// textWriter accumulates the lines of the text report.
type textWriter struct {
	w   *bufio.Writer
	err error
}

func (t *textWriter) line(format string, a ...any) {
	if t.err != nil {
		return
	}
	s := format
	if len(a) > 0 {
		s = fmt.Sprintf(format, a...)
	}
	_, t.err = t.w.WriteString(strings.TrimRight(s, " ") + "\n")
}

// kv writes "# key  value" with keys aligned.
func (t *textWriter) kv(key, value string) { t.line("# %-16s %s", key, value) }

func (t *textWriter) table(tb *table) {
	for _, l := range tb.lines("# ") {
		t.line("%s", l)
	}
}

func writeText(w io.Writer, m *model) error {
	t := &textWriter{w: bufio.NewWriter(w)}
	textSummary(t, m)
	textProfile(t, m)
	textFindings(t, m)
	for _, d := range m.top {
		textDetail(t, m, d)
	}
	textErrors(t, m)
	if t.err != nil {
		return t.err
	}
	return t.w.Flush()
}

func textSummary(t *textWriter, m *model) {
	s := m.s
	t.line("# querylens report")
	if len(m.cfg.Sources) > 0 {
		t.kv("Sources", strings.Join(m.cfg.Sources, ", "))
	}
	t.kv("Time range", fmt.Sprintf("%s to %s (%s)", fmtTime(s.Since), fmtTime(s.Taken), fmtDuration(m.span)))
	t.kv("Overall", fmt.Sprintf("%s statements, %s fingerprints in %s entries, %s QPS, %sx concurrency",
		fmtCount(m.statements), fmtCount(uint64(m.fingerprints)), fmtCount(uint64(len(s.Digests))),
		m.fmtRateOf(float64(m.statements)), m.fmtRateOf(m.totalTime.Seconds())))
	t.line("#")
	t.table(latencyTable(&m.latency, &m.ttfb))
	t.line("#")
	t.kv("Errors", m.errorsText())
	if m.incomplete > 0 {
		t.kv("Incomplete", fmtCount(m.incomplete)+" (the response never ended; not timed)")
	}
	t.kv("Rows sent", withPer(m.rowsSent, m.statements, "statement"))
	t.kv("Rows affected", fmtCount(m.rowsAffected))
	t.kv("Warnings", fmtCount(m.warnings))
	t.kv("Bytes in/out", fmtBytes(m.bytesIn)+" / "+fmtBytes(m.bytesOut))
	if len(s.Commands) > 0 {
		t.kv("Commands", countList(s.Commands, plainName))
	}
	if len(s.CommandErrors) > 0 {
		t.kv("Failed commands", countList(s.CommandErrors, plainName))
	}
	t.kv("Dropped events", fmtCount(s.DroppedEvents)+dropNote(s))
	t.kv("Overflow", overflowText(m))
	if s.Panics > 0 {
		t.kv("Skipped events", fmtCount(s.Panics)+" (handling them panicked: a querylens bug)")
	}
	if m.filtered() {
		t.kv("Selected", fmt.Sprintf("%s: %s of %s entries, %s statements, %s of total time",
			m.filterText(), fmtCount(uint64(len(m.matched))), fmtCount(uint64(len(s.Digests))),
			fmtCount(m.matchedCalls), m.share(m.matchedTime)))
	}
}

func dropNote(s *stats.Snapshot) string {
	if s.DroppedEvents == 0 {
		return ""
	}
	return " (the stats queue was full: counts are low)"
}

func overflowText(m *model) string {
	o := m.overflow
	if o.Count == 0 && m.s.OverflowEvents == 0 {
		return fmt.Sprintf("none (max_digests %s)", fmtCount(uint64(m.s.MaxDigests)))
	}
	return fmt.Sprintf("%s statements of new keys beyond max_digests %s, %s of total time",
		fmtCount(o.Count), fmtCount(uint64(m.s.MaxDigests)), m.share(o.TotalTime()))
}

// profileTable builds the profile: the top entries, a MISC row for the
// other matched ones and the overflow row.
func profileTable(m *model, fp func(string) string) *table {
	tb := &table{
		head: []string{"Rank", "Digest", "Schema", "Total time", "Share", "Calls", "Mean", "p95",
			"Rows/call", "Errors", "Fingerprint"},
		align: []align{right, left, left, right, right, right, right, right, right, right, left},
	}
	row := func(rank string, d *stats.DigestStats, fingerprint string) {
		mean, p95 := "-", "-"
		if h := &d.LatencyHistogram; h.Count() > 0 {
			mean, p95 = fmtDuration(h.Mean()), fmtDuration(h.Quantile(0.95))
		}
		tb.add(rank, d.Digest, schemaText(d), fmtDuration(d.TotalTime()), m.share(d.TotalTime()),
			fmtCount(d.Count), mean, p95, perCall(d.RowsSent, d.Count), fmtCount(d.Errors), fingerprint)
	}
	for i, d := range m.top {
		row(fmtCount(uint64(i+1)), d, fp(d.Fingerprint))
	}
	if r := m.rest(); r.entries > 0 {
		mean := "-"
		if r.timed > 0 {
			mean = fmtDuration(r.time / time.Duration(r.timed))
		}
		tb.add("", "MISC", "", fmtDuration(r.time), m.share(r.time), fmtCount(r.calls), mean, "-",
			perCall(r.rows, r.calls), fmtCount(r.errs), fp("<"+plural(uint64(r.entries), "more entry", "more entries")+">"))
	}
	if m.showOverflow() {
		row("", m.overflow, fp(m.overflow.Fingerprint))
	}
	return tb
}

func textProfile(t *textWriter, m *model) {
	t.line("")
	t.line("# Profile by %s", m.cfg.Sort)
	if len(m.matched) == 0 && !m.showOverflow() {
		t.line("# No statements matched.")
		return
	}
	t.table(profileTable(m, func(s string) string { return cut(oneLine(s), fingerprintWidth) }))
}

func textDetail(t *textWriter, m *model, d *stats.DigestStats) {
	t.line("")
	t.line("# Statement %d: %s QPS, %sx concurrency, %s of total time",
		m.rank[d], m.fmtRateOf(float64(d.Count)), m.fmtRateOf(d.TotalTime().Seconds()), m.share(d.TotalTime()))
	t.kv("Digest", d.Digest)
	t.kv("Schema", schemaText(d))
	t.kv("Users", usersText(d))
	t.kv("Kind", kindText(d))
	if len(d.Commands) > 0 {
		t.kv("Commands", countList(d.Commands, plainName))
	}
	if len(d.Tags) > 0 {
		t.kv("Tags", strings.Join(d.Tags, ", "))
	}
	t.kv("First seen", fmtTime(d.FirstSeen))
	t.kv("Last seen", fmtTime(d.LastSeen))
	t.table(latencyTable(&d.LatencyHistogram, &d.TTFBHistogram))
	calls := fmtCount(d.Count)
	if d.Incomplete > 0 {
		calls += fmt.Sprintf(" (%s incomplete, not timed)", fmtCount(d.Incomplete))
	}
	t.kv("Calls", calls)
	t.kv("Rows sent", withPer(d.RowsSent, d.Count, "call"))
	t.kv("Rows affected", withPer(d.RowsAffected, d.Count, "call"))
	if d.Warnings > 0 {
		t.kv("Warnings", fmtCount(d.Warnings))
	}
	t.kv("Bytes in/out", fmtBytes(d.BytesIn)+" / "+fmtBytes(d.BytesOut))
	t.kv("Errors", entryErrorsText(d, codeSummary(d)))
	if d.PrepareErrors > 0 {
		t.kv("Failed prepares", fmtCount(d.PrepareErrors))
	}
	if lines := histogramLines(&d.LatencyHistogram); lines != nil {
		t.line("# Exec time distribution")
		for _, l := range lines {
			t.line("# %s", l)
		}
	}
	if d.FingerprintTruncated {
		t.line("# The statement was longer than the proxy keeps (--max-sql-bytes): its fingerprint is of the first part.")
	}
	t.line("%s", d.Fingerprint)
	if d.SampleRaw != "" {
		t.line("# Slowest sample, literals included:")
		t.line("%s", d.SampleRaw)
	}
}

// errorRows builds the Errors table: one row per error code of each
// erring entry, the entry's columns on its first row only.
func errorRows(m *model, fp func(string) string) (*table, int) {
	erring, more := m.erring()
	tb := &table{
		head:  []string{"Rank", "Digest", "Schema", "Errors", "Rate", "Code", "Count", "Fingerprint"},
		align: []align{right, left, left, right, right, left, right, left},
	}
	for _, d := range erring {
		type codeRow struct{ label, n string }
		var codes []codeRow
		for _, c := range errorCodes(d) {
			codes = append(codes, codeRow{c.label(), fmtCount(c.n)})
		}
		if d.PrepareErrors > 0 {
			codes = append(codes, codeRow{"failed prepares", fmtCount(d.PrepareErrors)})
		}
		for i, c := range codes {
			if i == 0 {
				rate := "-"
				if d.Count > 0 {
					rate = fmtPercent(float64(d.Errors), float64(d.Count))
				}
				tb.add(m.rankText(d), d.Digest, schemaText(d), fmtCount(d.Errors), rate, c.label, c.n, fp(d.Fingerprint))
				continue
			}
			tb.add("", "", "", "", "", c.label, c.n, "")
		}
	}
	return tb, more
}

func textErrors(t *textWriter, m *model) {
	t.line("")
	t.line("# Errors")
	tb, more := errorRows(m, func(s string) string { return cut(oneLine(s), fingerprintWidth) })
	if len(tb.rows) == 0 {
		t.line("# No statement failed.")
		return
	}
	t.table(tb)
	if more > 0 {
		t.line("# ... and %s with errors.", plural(uint64(more), "more entry", "more entries"))
	}
}
