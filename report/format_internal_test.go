package report

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/querylens/querylens/stats"
)

func TestFmtDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                     "0",
		850:                                   "850ns",
		999:                                   "999ns",
		time.Microsecond:                      "1.0us",
		8100 * time.Nanosecond:                "8.1us",
		9960 * time.Nanosecond:                "10us",
		812 * time.Microsecond:                "812us",
		999_600 * time.Nanosecond:             "1.0ms",
		3400 * time.Microsecond:               "3.4ms",
		1200 * time.Millisecond:               "1.2s",
		42 * time.Second:                      "42s",
		59*time.Second + 400*time.Millisecond: "59s",
		59*time.Second + 600*time.Millisecond: "1m0s",
		123 * time.Second:                     "2m3s",
		time.Hour - 100*time.Millisecond:      "1h0m",
		65 * time.Minute:                      "1h5m",
		76 * time.Hour:                        "3d4h",
		-1500 * time.Microsecond:              "-1.5ms",
	} {
		assert.Equal(t, want, fmtDuration(d), "%d", d)
	}
}

func TestFmtNumbers(t *testing.T) {
	assert.Equal(t, "0", fmtCount(0))
	assert.Equal(t, "999", fmtCount(999))
	assert.Equal(t, "1,000", fmtCount(1000))
	assert.Equal(t, "12,345,678", fmtCount(12345678))
	assert.Equal(t, "18,446,744,073,709,551,615", fmtCount(^uint64(0)))

	assert.Equal(t, "0", fmtNumber(0))
	assert.Equal(t, "0.25", fmtNumber(0.25))
	assert.Equal(t, "10.0", fmtNumber(9.999))
	assert.Equal(t, "134.5", fmtNumber(134.5))
	assert.Equal(t, "5,550", fmtNumber(5550))

	assert.Equal(t, "<0.001", fmtRate(0.0001))
	assert.Equal(t, "0.020", fmtRate(0.02))
	assert.Equal(t, "4.08", fmtRate(4.0766))

	assert.Equal(t, "0%", fmtPercent(0, 10))
	assert.Equal(t, "0%", fmtPercent(1, 0))
	assert.Equal(t, "<0.1%", fmtPercent(1, 10000))
	assert.Equal(t, "33.3%", fmtPercent(1, 3))

	assert.Equal(t, "1023 B", fmtBytes(1023))
	assert.Equal(t, "1.0 KiB", fmtBytes(1024))
	assert.Equal(t, "1.0 MiB", fmtBytes(1024*1024-1))
	assert.Equal(t, "5.4 MiB", fmtBytes(5_662_310))
}

func TestCut(t *testing.T) {
	assert.Equal(t, "short", cut("short", 10))
	assert.Equal(t, "select ...", cut("select a from t", 10))
	assert.Equal(t, "héhé...", cut("héhéhéhéhé", 7), "cuts runes, not bytes")
}

func TestDecades(t *testing.T) {
	var h stats.Histogram
	for _, d := range []time.Duration{
		500 * time.Nanosecond, 5 * time.Microsecond, // 1us
		50 * time.Microsecond,                                                  // 10us
		500 * time.Microsecond, 600 * time.Microsecond, 700 * time.Microsecond, // 100us
		5 * time.Millisecond, 50 * time.Millisecond, 500 * time.Millisecond, 5 * time.Second, // one each
		50 * time.Second, 200 * time.Second, // 10s+
	} {
		h.Record(d)
	}
	assert.Equal(t, [8]uint64{2, 1, 3, 1, 1, 1, 1, 2}, decades(&h))
	assert.Equal(t, []string{
		"  1us  ########################################",
		" 10us  ####################",
		"100us  ############################################################",
		"  1ms  ####################",
		" 10ms  ####################",
		"100ms  ####################",
		"   1s  ####################",
		" 10s+  ########################################",
	}, histogramLines(&h))

	var empty stats.Histogram
	assert.Equal(t, [8]uint64{}, decades(&empty))
	assert.Nil(t, histogramLines(&empty))
}

func TestMarkdownEscaping(t *testing.T) {
	assert.Equal(t, "`select a \\| b`", mdCode("select a | b"), "GFM splits cells before code spans")
	assert.Equal(t, "``select `a` from t``", mdCode("select `a` from t"))
	assert.Equal(t, "`` `a` ``", mdCode("`a`"))
	assert.Equal(t, "````", mdFence("x ``` y"))
	assert.Equal(t, "```", mdFence("select 1"))
	assert.Equal(t, `shop\_eu \| \*x\*`, mdText("shop_eu | *x*"))
	assert.Equal(t, "a b", mdText("a\n  b"))
}

func TestTableHasNoTrailingSpace(t *testing.T) {
	tb := &table{head: []string{"A", "Long header", "Last"}, align: []align{right, left, left}}
	tb.add("1", "x", "")
	tb.add("22", "", "tail")
	for _, l := range tb.lines("# ") {
		assert.Equal(t, strings.TrimRight(l, " "), l)
	}
	assert.Equal(t, []string{
		"#  A Long header Last",
		"# == =========== ====",
		"#  1 x",
		"# 22             tail",
	}, tb.lines("# "))
}
