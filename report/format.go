package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/querylens/querylens/stats"
)

// fmtDuration formats d for people, with two or three significant digits:
// 850ns, 8.1us, 812us, 3.4ms, 1.2s, 42s, 2m3s, 1h5m, 3d4h.
func fmtDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDuration(-d)
	case d == 0:
		return "0"
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	}
	for _, u := range [...]struct {
		size time.Duration
		name string
	}{{time.Microsecond, "us"}, {time.Millisecond, "ms"}, {time.Second, "s"}} {
		v := float64(d) / float64(u.size)
		switch {
		case v < 9.95:
			return strconv.FormatFloat(v, 'f', 1, 64) + u.name
		case v < 999.5 && (u.size < time.Second || v < 59.5):
			return strconv.FormatFloat(v, 'f', 0, 64) + u.name
		}
	}
	switch {
	case d < time.Hour-time.Second/2:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%ds", d/time.Minute, d%time.Minute/time.Second)
	case d < 24*time.Hour-time.Minute/2:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	default:
		d = d.Round(time.Hour)
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	}
}

// fmtSeconds formats a duration given in seconds (the summaries' unit).
func fmtSeconds(s float64) string { return fmtDuration(time.Duration(math.Round(s * 1e9))) }

// fmtCount formats n with thousands separators: 1,234,567.
func fmtCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead > 0 {
		b.WriteString(s[:lead])
	}
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// fmtNumber formats a non-negative ratio: 0.25, 3.50, 42.5, 1,234.
func fmtNumber(x float64) string {
	switch {
	case x == 0:
		return "0"
	case x < 9.995:
		return strconv.FormatFloat(x, 'f', 2, 64)
	case x < 999.95:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return fmtCount(uint64(math.Round(x)))
	}
}

// fmtRate formats a per-second rate; small ones keep three decimals.
func fmtRate(x float64) string {
	switch {
	case x > 0 && x < 0.0005:
		return "<0.001"
	case x > 0 && x < 1:
		return strconv.FormatFloat(x, 'f', 3, 64)
	}
	return fmtNumber(x)
}

// plural formats n with the singular or plural noun.
func plural(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmtCount(n) + " " + many
}

// fmtPercent formats part/whole as a percentage; a share too small to
// show is "<0.1%" rather than a misleading 0.0%.
func fmtPercent(part, whole float64) string {
	if whole <= 0 || part <= 0 {
		return "0%"
	}
	p := 100 * part / whole
	if p < 0.05 {
		return "<0.1%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}

// fmtBytes formats a byte count in binary units: 512 B, 1.5 KiB, 3.2 MiB.
func fmtBytes(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	v := float64(n)
	for _, unit := range [...]string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		if v < 1023.95 || unit == "TiB" {
			return strconv.FormatFloat(v, 'f', 1, 64) + " " + unit
		}
	}
	panic("unreachable")
}

// timeLayout prints times in UTC to the second, whatever the local zone.
const timeLayout = "2006-01-02 15:04:05Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}

// cut shortens s to at most n runes, ending in "..." when it cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:max(n-3, 0)]) + "..."
}

// oneLine collapses runs of white space, newlines included, to one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// countList formats a count map as "a 3, b 12", keys sorted.
func countList[K interface{ ~string | ~uint16 }](m map[K]uint64, name func(K) string) string {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, name(k)+" "+fmtCount(m[k]))
	}
	return strings.Join(parts, ", ")
}

func plainName(s string) string { return s }

// errorCodeName names the error numbers most often seen from statements,
// all of which mean the same in MySQL and MariaDB; "" for the others.
func errorCodeName(code uint16) string {
	switch code {
	case 1040:
		return "ER_CON_COUNT_ERROR"
	case 1044:
		return "ER_DBACCESS_DENIED_ERROR"
	case 1045:
		return "ER_ACCESS_DENIED_ERROR"
	case 1046:
		return "ER_NO_DB_ERROR"
	case 1048:
		return "ER_BAD_NULL_ERROR"
	case 1049:
		return "ER_BAD_DB_ERROR"
	case 1050:
		return "ER_TABLE_EXISTS_ERROR"
	case 1051:
		return "ER_BAD_TABLE_ERROR"
	case 1054:
		return "ER_BAD_FIELD_ERROR"
	case 1062:
		return "ER_DUP_ENTRY"
	case 1064:
		return "ER_PARSE_ERROR"
	case 1105:
		return "ER_UNKNOWN_ERROR"
	case 1142:
		return "ER_TABLEACCESS_DENIED_ERROR"
	case 1146:
		return "ER_NO_SUCH_TABLE"
	case 1153:
		return "ER_NET_PACKET_TOO_LARGE"
	case 1205:
		return "ER_LOCK_WAIT_TIMEOUT"
	case 1213:
		return "ER_LOCK_DEADLOCK"
	case 1227:
		return "ER_SPECIFIC_ACCESS_DENIED_ERROR"
	case 1243:
		return "ER_UNKNOWN_STMT_HANDLER"
	case 1264:
		return "ER_WARN_DATA_OUT_OF_RANGE"
	case 1290:
		return "ER_OPTION_PREVENTS_STATEMENT"
	case 1317:
		return "ER_QUERY_INTERRUPTED"
	case 1366:
		return "ER_TRUNCATED_WRONG_VALUE_FOR_FIELD"
	case 1406:
		return "ER_DATA_TOO_LONG"
	case 1451:
		return "ER_ROW_IS_REFERENCED_2"
	case 1452:
		return "ER_NO_REFERENCED_ROW_2"
	case 1461:
		return "ER_MAX_PREPARED_STMT_COUNT_REACHED"
	case 1690:
		return "ER_DATA_OUT_OF_RANGE"
	case 1792:
		return "ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION"
	}
	return ""
}

// codeCount is how many statements failed with one error code.
type codeCount struct {
	code uint16 // 0 for "other codes"
	n    uint64
}

// errorCodes lists d's errors by code, most frequent first (ties by code),
// then the codes beyond the per-entry bound.
func errorCodes(d *stats.DigestStats) []codeCount {
	out := make([]codeCount, 0, len(d.ErrorsByCode)+1)
	for code, n := range d.ErrorsByCode {
		out = append(out, codeCount{code, n})
	}
	slices.SortFunc(out, func(a, b codeCount) int {
		if a.n != b.n {
			if a.n > b.n {
				return -1
			}
			return 1
		}
		return int(a.code) - int(b.code)
	})
	if d.ErrorsOtherCodes > 0 {
		out = append(out, codeCount{0, d.ErrorsOtherCodes})
	}
	return out
}

// label is "1062 ER_DUP_ENTRY", "1234" or, for code 0, "other codes".
func (c codeCount) label() string {
	if c.code == 0 {
		return "other codes"
	}
	s := strconv.Itoa(int(c.code))
	if name := errorCodeName(c.code); name != "" {
		s += " " + name
	}
	return s
}

// codeSummary formats d's error codes on one line: "1213 ER_LOCK_DEADLOCK
// 9, 1205 ER_LOCK_WAIT_TIMEOUT 3".
func codeSummary(d *stats.DigestStats) string {
	var parts []string
	for _, c := range errorCodes(d) {
		parts = append(parts, c.label()+" "+fmtCount(c.n))
	}
	return strings.Join(parts, ", ")
}

// decadeLabels are the rows of the latency distribution, pt-query-digest's
// decades: "1us" holds everything under 10us, "10s+" everything from 10s.
var decadeLabels = [...]string{"1us", "10us", "100us", "1ms", "10ms", "100ms", "1s", "10s+"}

// decadeBounds are the upper bounds, in seconds, of all rows but the last.
var decadeBounds = [len(decadeLabels) - 1]float64{1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10}

// decades counts h's observations per decade, from its buckets (through
// Histogram.Cumulative): a bucket counts in the decade holding its
// estimate, so a duration within stats.RelativeError of a decade's bound
// may count in the next one.
func decades(h *stats.Histogram) [len(decadeLabels)]uint64 {
	var out [len(decadeLabels)]uint64
	bounds := decadeBounds
	cum := h.Cumulative(bounds[:])
	var below uint64
	for i, le := range decadeBounds {
		out[i] = cum[le] - below
		below = cum[le]
	}
	out[len(out)-1] = h.Count() - below
	return out
}

// histogramWidth is the length of the longest bar.
const histogramWidth = 60

// histogramLines draws h as pt-query-digest does: one row per decade with
// a bar of '#' scaled to the fullest one; a non-empty row gets at least
// one mark. An empty histogram draws nothing.
func histogramLines(h *stats.Histogram) []string {
	if h.Count() == 0 {
		return nil
	}
	counts := decades(h)
	peak := slices.Max(counts[:])
	lines := make([]string, len(counts))
	for i, n := range counts {
		bar := 0
		if n > 0 {
			bar = int(math.Ceil(float64(n) * histogramWidth / float64(peak)))
		}
		lines[i] = strings.TrimRight(fmt.Sprintf("%5s  %s", decadeLabels[i], strings.Repeat("#", bar)), " ")
	}
	return lines
}

// align says how a table column is padded.
type align bool

const (
	left  align = false
	right align = true
)

// table is a plain-text table: columns padded to their widest cell, the
// last one never padded, so that lines carry no trailing spaces.
type table struct {
	head  []string
	align []align
	rows  [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// lines renders the table with a rule of '=' under the header, each line
// starting with prefix.
func (t *table) lines(prefix string) []string {
	widths := make([]int, len(t.head))
	for _, r := range append([][]string{t.head}, t.rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	rule := make([]string, len(t.head))
	for i, w := range widths {
		rule[i] = strings.Repeat("=", w)
	}
	var out []string
	for _, r := range append([][]string{t.head, rule}, t.rows...) {
		var b strings.Builder
		b.WriteString(prefix)
		for i, c := range r {
			if i > 0 {
				b.WriteByte(' ')
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			switch {
			case t.align[i] == right:
				b.WriteString(pad + c)
			case i == len(r)-1:
				b.WriteString(c)
			default:
				b.WriteString(c + pad)
			}
		}
		out = append(out, strings.TrimRight(b.String(), " "))
	}
	return out
}
