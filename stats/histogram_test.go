package stats_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/stats"
)

// distributions of latencies within the documented 1µs–100s range.
var distributions = map[string]func(r *rand.Rand) time.Duration{
	"log-uniform 1µs-100s": func(r *rand.Rand) time.Duration {
		return time.Duration(math.Exp(math.Log(1e3) + r.Float64()*(math.Log(1e11)-math.Log(1e3))))
	},
	"exponential mean 2ms": func(r *rand.Rand) time.Duration {
		return time.Microsecond + time.Duration(r.ExpFloat64()*2e6)
	},
	"bimodal 300µs/80ms": func(r *rand.Rand) time.Duration {
		if r.IntN(10) == 0 {
			return time.Duration(80e6 + r.NormFloat64()*5e6)
		}
		return time.Duration(300e3 + r.NormFloat64()*30e3)
	},
	"few distinct values": func(r *rand.Rand) time.Duration {
		return []time.Duration{time.Millisecond, 5 * time.Millisecond, time.Second}[r.IntN(3)]
	},
}

func TestHistogramQuantilesWithinRelativeError(t *testing.T) {
	for name, gen := range distributions {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h stats.Histogram
			values := make([]time.Duration, 50_000)
			for i := range values {
				values[i] = gen(r)
				h.Record(values[i])
			}
			slices.Sort(values)
			for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999} {
				exact := values[int(math.Ceil(q*float64(len(values))))-1] // nearest rank
				got := h.Quantile(q)
				rel := math.Abs(float64(got-exact)) / float64(exact)
				// One extra nanosecond of rounding on top of the bound.
				assert.LessOrEqual(t, rel, stats.RelativeError+1/float64(exact),
					"q=%v: got %v, exact %v", q, got, exact)
			}
			assert.Equal(t, values[0], h.Quantile(0))
			assert.Equal(t, values[len(values)-1], h.Quantile(1))
			assert.Equal(t, values[0], h.Min())
			assert.Equal(t, values[len(values)-1], h.Max())
			var sum time.Duration
			for _, v := range values {
				sum += v
			}
			assert.Equal(t, sum, h.Sum())
			assert.Equal(t, uint64(len(values)), h.Count())
		})
	}
	assert.InDelta(t, 0.0433, stats.RelativeError, 0.0001)
}

func TestHistogramMergeIsHistogramOfUnion(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var a, b, all stats.Histogram
	for i := range 20_000 {
		gen := distributions["log-uniform 1µs-100s"]
		if i%3 == 0 {
			gen = distributions["bimodal 300µs/80ms"]
		}
		v := gen(r)
		if i%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
		all.Record(v)
	}
	merged := a.Clone()
	merged.Merge(&b)
	assert.Equal(t, all.Clone(), merged.Clone())

	// Merging into an empty histogram, and merging an empty one, are
	// identities.
	var empty stats.Histogram
	empty.Merge(&all)
	assert.Equal(t, all.Clone(), empty.Clone())
	before := all.Clone()
	all.Merge(&stats.Histogram{})
	assert.Equal(t, before, all.Clone())
}

func TestHistogramEdges(t *testing.T) {
	var h stats.Histogram
	assert.Zero(t, h.Quantile(0.5), "empty")
	assert.Zero(t, h.Mean())
	h.Record(0)
	h.Record(-time.Second) // counts as zero
	h.Record(time.Nanosecond)
	h.Record(1000 * time.Hour) // beyond the last bucket: clamped to Max
	assert.Equal(t, time.Duration(0), h.Min())
	assert.Equal(t, 1000*time.Hour, h.Max())
	assert.Equal(t, 1000*time.Hour, h.Quantile(0.99))
	assert.LessOrEqual(t, h.Quantile(0.5), 2*time.Microsecond)
}

func TestHistogramJSONRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var h stats.Histogram
	for range 1000 {
		h.Record(distributions["exponential mean 2ms"](r))
	}
	b, err := json.Marshal(h)
	require.NoError(t, err)
	var back stats.Histogram
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, h.Clone(), back.Clone())

	for name, bad := range map[string]string{
		"schema": `{"schema":4,"count":0,"offset":0,"counts":[]}`,
		"range":  `{"schema":3,"count":1,"offset":900,"counts":[1]}`,
		"count":  `{"schema":3,"count":5,"offset":0,"counts":[1]}`,
	} {
		assert.Error(t, json.Unmarshal([]byte(bad), &back), name)
	}
}

func TestHistogramCumulative(t *testing.T) {
	var h stats.Histogram
	for _, d := range []time.Duration{
		200 * time.Microsecond, 2 * time.Millisecond, 2 * time.Millisecond,
		30 * time.Millisecond, 700 * time.Millisecond, 20 * time.Second,
	} {
		h.Record(d)
	}
	got := h.Cumulative(stats.DurationBuckets())
	assert.Equal(t, map[float64]uint64{
		0.0005: 1, 0.001: 1, 0.0025: 3, 0.005: 3, 0.01: 3, 0.025: 3, 0.05: 4,
		0.1: 4, 0.25: 4, 0.5: 4, 1: 5, 2.5: 5, 5: 5, 10: 5,
	}, got)
	var empty stats.Histogram
	for _, n := range empty.Cumulative(stats.DurationBuckets()) {
		assert.Zero(t, n)
	}
}

func TestBucketUpperBound(t *testing.T) {
	assert.Equal(t, 1.0, stats.BucketUpperBound(0))
	assert.Equal(t, 2.0, stats.BucketUpperBound(8))
	assert.InDelta(t, math.Exp2(1.0/8), stats.BucketUpperBound(1), 1e-15)
}
