package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/querylens/querylens/stats"
)

// mdWriter accumulates the lines of the markdown report.
type mdWriter struct{ textWriter }

// table writes tb as a GitHub-flavoured Markdown table; cells must be
// Markdown already (see mdText, mdCode).
func (w *mdWriter) table(tb *table) {
	w.line("| %s |", strings.Join(tb.head, " | "))
	seps := make([]string, len(tb.head))
	for i, a := range tb.align {
		seps[i] = "---"
		if a == right {
			seps[i] = "---:"
		}
	}
	w.line("|%s|", strings.Join(seps, "|"))
	for _, r := range tb.rows {
		w.line("| %s |", strings.Join(r, " | "))
	}
}

// pairs writes a two-column table of names and Markdown values.
func (w *mdWriter) pairs(head string, kv ...string) {
	tb := &table{head: []string{head, "Value"}, align: []align{left, left}}
	for i := 0; i+1 < len(kv); i += 2 {
		tb.add(kv[i], kv[i+1])
	}
	w.table(tb)
}

// mdText escapes s for use as Markdown text in a table cell.
func mdText(s string) string {
	var b strings.Builder
	for _, r := range oneLine(s) {
		if strings.ContainsRune("\\`*_[]<>|#!~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdCode returns s as an inline code span that survives a table cell: the
// fence is longer than any run of backticks in s, and '|' is escaped (GFM
// reads cells before code spans).
func mdCode(s string) string {
	s = strings.ReplaceAll(oneLine(s), "|", `\|`)
	if s == "" {
		return ""
	}
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// mdFence returns a fence for a code block holding s.
func mdFence(s string) string { return strings.Repeat("`", max(3, longestRun(s, '`')+1)) }

func longestRun(s string, c byte) int {
	best, n := 0, 0
	for i := range len(s) {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

// mdCells escapes the plain cells of a text table for Markdown, except the
// columns listed in code, which become code spans.
func mdCells(tb *table, code ...int) *table {
	out := &table{head: tb.head, align: tb.align}
	for _, r := range tb.rows {
		cells := make([]string, len(r))
		for i, c := range r {
			switch {
			case c == "":
			case containsInt(code, i):
				cells[i] = mdCode(c)
			default:
				cells[i] = mdText(c)
			}
		}
		out.rows = append(out.rows, cells)
	}
	return out
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func writeMarkdown(w io.Writer, m *model) error {
	mw := &mdWriter{textWriter{w: bufio.NewWriter(w)}}
	mdSummary(mw, m)
	mdProfile(mw, m)
	mdFindings(mw, m)
	if len(m.top) > 0 {
		mw.line("")
		mw.line("## Statements")
		for _, d := range m.top {
			mdDetail(mw, m, d)
		}
	}
	mdErrors(mw, m)
	if mw.err != nil {
		return mw.err
	}
	return mw.w.Flush()
}

func mdSummary(w *mdWriter, m *model) {
	s := m.s
	w.line("# querylens report")
	if len(m.cfg.Sources) > 0 {
		srcs := make([]string, len(m.cfg.Sources))
		for i, src := range m.cfg.Sources {
			srcs[i] = mdCode(src)
		}
		w.line("")
		w.line("Sources: %s", strings.Join(srcs, ", "))
	}
	w.line("")
	w.line("## Summary")
	w.line("")
	kv := []string{
		"Time range", fmt.Sprintf("%s to %s (%s)", fmtTime(s.Since), fmtTime(s.Taken), fmtDuration(m.span)),
		"Statements", fmtCount(m.statements),
		"Fingerprints", fmt.Sprintf("%s in %s entries", fmtCount(uint64(m.fingerprints)), fmtCount(uint64(len(s.Digests)))),
		"QPS", m.fmtRateOf(float64(m.statements)),
		"Concurrency", m.fmtRateOf(m.totalTime.Seconds()) + "x",
		"Errors", m.errorsText(),
	}
	if m.incomplete > 0 {
		kv = append(kv, "Incomplete", fmtCount(m.incomplete)+" (the response never ended; not timed)")
	}
	kv = append(kv,
		"Rows sent", withPer(m.rowsSent, m.statements, "statement"),
		"Rows affected", fmtCount(m.rowsAffected),
		"Warnings", fmtCount(m.warnings),
		"Bytes in/out", fmtBytes(m.bytesIn)+" / "+fmtBytes(m.bytesOut),
	)
	if len(s.Commands) > 0 {
		kv = append(kv, "Commands", mdText(countList(s.Commands, plainName)))
	}
	if len(s.CommandErrors) > 0 {
		kv = append(kv, "Failed commands", mdText(countList(s.CommandErrors, plainName)))
	}
	kv = append(kv, "Dropped events", fmtCount(s.DroppedEvents)+dropNote(s), "Overflow", mdText(overflowText(m)))
	if s.Panics > 0 {
		kv = append(kv, "Skipped events", fmtCount(s.Panics)+" (handling them panicked: a querylens bug)")
	}
	if m.filtered() {
		kv = append(kv, "Selected", fmt.Sprintf("%s: %s of %s entries, %s statements, %s of total time",
			mdCode(m.filterText()), fmtCount(uint64(len(m.matched))), fmtCount(uint64(len(s.Digests))),
			fmtCount(m.matchedCalls), m.share(m.matchedTime)))
	}
	w.pairs("Metric", kv...)
	w.line("")
	w.table(latencyTable(&m.latency, &m.ttfb))
}

func latencyTable(latency, ttfb *stats.Histogram) *table {
	lt := &table{
		head:  append([]string{"Attribute"}, latencyHead[:]...),
		align: []align{left, right, right, right, right, right, right, right},
	}
	lt.add(append([]string{"Exec time"}, latencyRow(latency, true)...)...)
	lt.add(append([]string{"Time to 1st byte"}, latencyRow(ttfb, false)...)...)
	return lt
}

func mdProfile(w *mdWriter, m *model) {
	w.line("")
	w.line("## Profile by %s", m.cfg.Sort)
	w.line("")
	if len(m.matched) == 0 && !m.showOverflow() {
		w.line("No statements matched.")
		return
	}
	w.table(mdCells(profileTable(m, func(s string) string { return cut(oneLine(s), fingerprintWidth) }), 1, 10))
}

func mdDetail(w *mdWriter, m *model, d *stats.DigestStats) {
	w.line("")
	w.line("### %d. %s in %s", m.rank[d], mdCode(d.Digest), mdText(schemaText(d)))
	w.line("")
	w.line("%s of total time, %s QPS, %sx concurrency.", m.share(d.TotalTime()),
		m.fmtRateOf(float64(d.Count)), m.fmtRateOf(d.TotalTime().Seconds()))
	if d.FingerprintTruncated {
		w.line("")
		w.line("The statement was longer than the proxy keeps (`--max-sql-bytes`): its fingerprint is of the first part.")
	}
	w.line("")
	fence := mdFence(d.Fingerprint)
	w.line("%ssql", fence)
	w.line("%s", d.Fingerprint)
	w.line("%s", fence)
	if d.SampleRaw != "" {
		w.line("")
		w.line("Slowest sample, literals included:")
		w.line("")
		fence := mdFence(d.SampleRaw)
		w.line("%ssql", fence)
		w.line("%s", d.SampleRaw)
		w.line("%s", fence)
	}
	w.line("")
	kv := []string{
		"Schema", mdText(schemaText(d)),
		"Users", mdText(usersText(d)),
		"Kind", mdText(kindText(d)),
	}
	if len(d.Commands) > 0 {
		kv = append(kv, "Commands", mdText(countList(d.Commands, plainName)))
	}
	if len(d.Tags) > 0 {
		kv = append(kv, "Tags", mdCode(strings.Join(d.Tags, ", ")))
	}
	calls := fmtCount(d.Count)
	if d.Incomplete > 0 {
		calls += fmt.Sprintf(" (%s incomplete, not timed)", fmtCount(d.Incomplete))
	}
	kv = append(kv,
		"First seen", fmtTime(d.FirstSeen),
		"Last seen", fmtTime(d.LastSeen),
		"Calls", calls,
		"Rows sent", withPer(d.RowsSent, d.Count, "call"),
		"Rows affected", withPer(d.RowsAffected, d.Count, "call"),
	)
	if d.Warnings > 0 {
		kv = append(kv, "Warnings", fmtCount(d.Warnings))
	}
	kv = append(kv, "Bytes in/out", fmtBytes(d.BytesIn)+" / "+fmtBytes(d.BytesOut))
	kv = append(kv, "Errors", entryErrorsText(d, mdText(codeSummary(d))))
	if d.PrepareErrors > 0 {
		kv = append(kv, "Failed prepares", fmtCount(d.PrepareErrors))
	}
	w.pairs("Attribute", kv...)
	w.line("")
	w.table(latencyTable(&d.LatencyHistogram, &d.TTFBHistogram))
	if lines := histogramLines(&d.LatencyHistogram); lines != nil {
		w.line("")
		w.line("```text")
		w.line("Exec time distribution")
		for _, l := range lines {
			w.line("%s", l)
		}
		w.line("```")
	}
}

func mdErrors(w *mdWriter, m *model) {
	w.line("")
	w.line("## Errors")
	w.line("")
	tb, more := errorRows(m, func(s string) string { return cut(oneLine(s), fingerprintWidth) })
	if len(tb.rows) == 0 {
		w.line("No statement failed.")
		return
	}
	w.table(mdCells(tb, 1, 5, 7))
	if more > 0 {
		w.line("")
		w.line("... and %s with errors.", plural(uint64(more), "more entry", "more entries"))
	}
}
