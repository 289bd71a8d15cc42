package stats_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/fingerprint"
	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/stats"
)

const (
	promA = "SELECT * FROM users WHERE id = 1"
	promB = "UPDATE t SET a = 1"
	promC = "DELETE FROM t"
	promD = "SELECT 2 FROM dual"
)

// collectorEngine feeds the workload testdata/collector.prom describes:
// A (3 statements, 34ms, one error), B (1, 700ms) and C (1, 200µs) are
// tracked; D (20s) overflows MaxDigests=3; with two exported digests, C and
// the overflow fold into "other".
func collectorEngine(t *testing.T) *stats.Engine {
	e := startEngine(t, stats.Config{MaxDigests: 3})
	e.Observe(&protocol.Event{Command: protocol.ComConnect, User: "x", ErrorCode: 1045})
	e.Observe(&protocol.Event{Command: protocol.ComPing})
	e.Observe(&protocol.Event{Command: protocol.ComPing})
	for i, d := range []time.Duration{2 * time.Millisecond, 2 * time.Millisecond, 30 * time.Millisecond} {
		ev := query(promA, "shop", time.Duration(i)*time.Second, d)
		ev.RowsSent = 1
		if i == 2 {
			ev.ErrorCode = 1146
		}
		e.Observe(ev)
	}
	e.Observe(query(promB, "shop", 0, 700*time.Millisecond))
	e.Observe(query(promC, "", 0, 200*time.Microsecond))
	e.Observe(query(promD, "shop", 0, 20*time.Second))
	flush(t, e)
	return e
}

func TestCollectorCompare(t *testing.T) {
	e := collectorEngine(t)
	expected, err := os.ReadFile("testdata/collector.prom")
	require.NoError(t, err)
	var pairs []string
	for name, sql := range map[string]string{"A": promA, "B": promB} {
		fp := fingerprint.New(fingerprint.DefaultConfig()).Fingerprint(sql)
		pairs = append(pairs,
			"DIGEST_"+name, fp.Digest.String(),
			"TEXT_"+name, escapeLabel(fp.Text),
			"KIND_"+name, escapeLabel(fingerprint.Describe(sql).Kind))
	}
	want := strings.NewReplacer(pairs...).Replace(string(expected))
	assert.NoError(t, testutil.CollectAndCompare(stats.NewCollector(e, 2), strings.NewReader(want)))
}

// escapeLabel escapes a label value for the text exposition format.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func TestCollectorLint(t *testing.T) {
	e := collectorEngine(t)
	problems, err := testutil.CollectAndLint(stats.NewCollector(e, 2))
	require.NoError(t, err)
	assert.Empty(t, problems)
}

func TestCollectorRegisters(t *testing.T) {
	e := collectorEngine(t)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(stats.NewCollector(e, 0)))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	assert.NotEmpty(t, mfs)
}

func TestCollectorTopKAndOverflow(t *testing.T) {
	e := startEngine(t, stats.Config{MaxDigests: 10})
	// Twelve shapes, shape i taking i+1 ms: 10 tracked, 2 overflow.
	for i := range 12 {
		sql := "SELECT c" + string(rune('a'+i)) + " FROM t"
		e.Observe(query(sql, "", 0, time.Duration(i+1)*time.Millisecond))
	}
	flush(t, e)
	c := stats.NewCollector(e, 3)
	// 3 exported series plus "other".
	assert.Equal(t, 4, testutil.CollectAndCount(c, "querylens_statements_total"))
	assert.Equal(t, 3, testutil.CollectAndCount(c, "querylens_statement_info"))
	assert.Equal(t, 2.0, gatherValue(t, c, "querylens_digest_overflow_total"))
	// other = shapes 1..7 tracked (1..7 ms) + 2 overflow: 9 statements.
	assert.Equal(t, 9.0, gatherValue(t, c, "querylens_statements_total", "digest", "other"))
}

func TestCollectorMembershipIsSticky(t *testing.T) {
	e := startEngine(t, stats.Config{})
	const a, b = "SELECT a FROM t", "SELECT b FROM t"
	e.Observe(query(a, "", 0, 10*time.Millisecond))
	e.Observe(query(b, "", 0, 5*time.Millisecond))
	flush(t, e)
	c := stats.NewCollector(e, 1)
	assert.Equal(t, 1.0, gatherValue(t, c, "querylens_statements_total", "digest", digestOf(a)))

	// b overtakes a by less than the margin: a keeps its series.
	e.Observe(query(b, "", 0, 6*time.Millisecond))
	flush(t, e)
	assert.Equal(t, 1.0, gatherValue(t, c, "querylens_statements_total", "digest", digestOf(a)))

	// b now doubles a: it takes the series over.
	e.Observe(query(b, "", 0, 10*time.Millisecond))
	flush(t, e)
	assert.Equal(t, 3.0, gatherValue(t, c, "querylens_statements_total", "digest", digestOf(b)))
	assert.Equal(t, 1.0, gatherValue(t, c, "querylens_statements_total", "digest", stats.OtherDigest))
}

func TestCollectorInvalidUTF8(t *testing.T) {
	e := startEngine(t, stats.Config{})
	e.Observe(query("SELECT * FROM t WHERE a = 1", "sch\xffema", 0, time.Millisecond))
	flush(t, e)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(stats.NewCollector(e, 5)))
	_, err := reg.Gather()
	assert.NoError(t, err)
}

// gatherValue returns the value of the counter or gauge name whose label
// labelName is labelValue (or the only one when no label is given).
func gatherValue(t *testing.T, c prometheus.Collector, name string, label ...string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(label); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == label[i] && lp.GetValue() == label[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s%v", name, label)
	return 0
}
