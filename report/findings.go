package report

import (
	"fmt"
	"strings"

	"github.com/querylens/querylens/stats"
)

// selectFindings returns the findings that pass cfg's filters (a finding
// about no statement, such as connection churn, passes a schema filter
// only when it is unset), at most cfg.Top of them, by time spent.
func selectFindings(s *stats.Snapshot, cfg Config) []*stats.Finding {
	text := strings.ToLower(cfg.Query)
	var out []*stats.Finding
	for _, f := range stats.VisibleFindings(s.Findings, stats.DefaultMinShare) {
		if cfg.FilterSchema && (f.Digest == "" || f.Schema != cfg.Schema) {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(f.Fingerprint), text) &&
			!strings.Contains(strings.ToLower(f.SourceFingerprint), text) {
			continue
		}
		out = append(out, f)
	}
	if cfg.Top > 0 && len(out) > cfg.Top {
		out = out[:cfg.Top]
	}
	return out
}

// findingLines renders one finding as label/value pairs, shared by the text
// and markdown reports.
func findingLines(f *stats.Finding) [][2]string {
	cost := fmtSeconds(f.Seconds) + " spent"
	if f.SavingSeconds > 0 {
		cost += ", about " + fmtSeconds(f.SavingSeconds) + " to save"
	}
	kv := [][2]string{{"kind", f.Kind + " (" + cost + ")"}}
	if f.Fingerprint != "" {
		kv = append(kv, [2]string{"statement", oneLine(f.Fingerprint)})
	}
	if f.SourceFingerprint != "" {
		kv = append(kv, [2]string{"driven by", oneLine(f.SourceFingerprint)})
	}
	for _, r := range f.Related {
		if r != f.Fingerprint {
			kv = append(kv, [2]string{"with", oneLine(r)})
		}
	}
	if f.Suggestion != "" {
		kv = append(kv, [2]string{"fix", oneLine(f.Suggestion)})
	}
	if len(f.Tags) > 0 {
		kv = append(kv, [2]string{"attributed to", strings.Join(f.Tags, ", ")})
	}
	if f.UnitsSeen > 0 {
		kv = append(kv, [2]string{"units of work", fmt.Sprintf("%s of the %s in which the statement ran",
			fmtCount(f.Units), fmtCount(f.UnitsSeen))})
	}
	for i, ex := range f.Examples {
		if i == 2 {
			break
		}
		who := ex.Unit
		if ex.ConnID != 0 {
			who += fmt.Sprintf(", conn %d", ex.ConnID)
		}
		if ex.User != "" || ex.Client != "" {
			who += ", " + ex.User + "@" + ex.Client
		}
		line := who + ": " + ex.Detail
		if len(ex.Values) > 0 {
			line += "; values " + strings.Join(ex.Values, " | ")
		}
		kv = append(kv, [2]string{"example", line})
	}
	return kv
}

func textFindings(t *textWriter, m *model) {
	t.line("")
	fs := selectFindings(m.s, m.cfg)
	t.line("# Findings")
	if len(fs) == 0 {
		t.line("# No wasteful pattern found (N+1 loops, repeated reads, connection churn, ...).")
		return
	}
	for i, f := range fs {
		t.line("#")
		t.line("# %d. %s", i+1, f.Title)
		for _, kv := range findingLines(f) {
			t.line("#    %-14s %s", kv[0]+":", kv[1])
		}
	}
	if n := len(stats.VisibleFindings(m.s.Findings, stats.DefaultMinShare)) - len(fs); n > 0 && !m.filtered() {
		t.line("# ... and %s.", plural(uint64(n), "more finding", "more findings"))
	}
}

func mdFindings(w *mdWriter, m *model) {
	w.line("")
	w.line("## Findings")
	w.line("")
	fs := selectFindings(m.s, m.cfg)
	if len(fs) == 0 {
		w.line("No wasteful pattern found (N+1 loops, repeated reads, connection churn, ...).")
		return
	}
	for i, f := range fs {
		w.line("%d. **%s**", i+1, mdText(f.Title))
		for _, kv := range findingLines(f) {
			v := mdText(kv[1])
			switch kv[0] {
			case "statement", "driven by", "with":
				v = mdCode(kv[1])
			case "fix":
				if strings.HasPrefix(kv[1], "select") {
					v = mdCode(kv[1])
				}
			}
			w.line("   - %s: %s", kv[0], v)
		}
	}
}
