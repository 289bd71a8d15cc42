package stats

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Histogram is a mergeable latency histogram with fixed logarithmic buckets.
//
// # Buckets
//
// The bucket boundaries are those of a Prometheus native histogram with
// schema 3: bucket k holds the durations d (in seconds) with
// 2^((k-1)/8) < d <= 2^(k/8), so each bucket is 2^(1/8) ≈ 1.0905 times wider
// than the one before. Keys run from -159 (≈0.95µs–1.04µs) to 54
// (≈98.7s–107.6s); shorter durations, including zero, are counted in the
// first bucket and longer ones in the last. That is at most 214 buckets, and
// only the range between the lowest and highest key seen is stored.
//
// Because the boundaries are fixed, two histograms merge by adding their
// counts bucket by bucket, and the result is exactly the histogram of the
// union of their observations: across proxies, across snapshots, across
// processes (the JSON form keeps the buckets).
//
// # Accuracy
//
// Quantile returns, for the bucket holding the requested rank, the value
// 2·lo·hi/(lo+hi), which is within α = (2^(1/8)−1)/(2^(1/8)+1) ≈ 4.33% of
// every value in (lo, hi], clamped to the exact minimum and maximum. So a
// quantile estimate is within RelativeError of the exact nearest-rank
// quantile for any duration between 1µs and 100s. Below 1µs the estimate is
// about 1µs clamped to Min; a quantile that falls in the last, open-ended
// bucket (beyond ≈98.7s) is reported as Max. Sum, Count, Min and Max are
// exact.
//
// Why not a library: github.com/DataDog/sketches-go (DDSketch) gives the
// same guarantee with the same log-bucket idea, but its index mapping is its
// own, so buckets would not line up with Prometheus native histograms, and
// it would add a dependency for about 150 lines. HDR-style log-linear
// buckets would record a few nanoseconds faster but have uneven relative
// error (6.25%–12.5% bucket widths with 3 sub-bucket bits).
//
// # Concurrency
//
// A Histogram is not safe for concurrent use. The stats writer owns the
// live ones; snapshots hold clones that nobody mutates.
type Histogram struct {
	count  uint64
	sum    time.Duration
	min    time.Duration
	max    time.Duration
	offset int      // key of counts[0]
	counts []uint64 // counts[i] is the count of bucket offset+i
}

const (
	// HistogramSchema is the Prometheus native-histogram schema whose bucket
	// boundaries Histogram uses (8 buckets per power of two).
	HistogramSchema = 3

	bucketsPerOctave = 1 << HistogramSchema
	minKey           = -159 // upper bound 2^(-159/8) s ≈ 1.04µs
	maxKey           = 54   // upper bound 2^(54/8) s ≈ 107.6s
	growSlack        = 8    // extra buckets allocated when the range grows
)

// RelativeError is the largest relative error of Histogram.Quantile for
// durations between 1µs and 100s: (2^(1/8)−1)/(2^(1/8)+1), about 4.33%.
const RelativeError = 0.04329461749938919

// octaveThresholds[i] holds the 52 mantissa bits of 2^((i+1)/8): a value
// 2^e·(1+f) lies in bucket 8e+j where j counts the thresholds (and zero)
// that f's bits exceed.
var octaveThresholds = func() [bucketsPerOctave - 1]uint64 {
	var t [bucketsPerOctave - 1]uint64
	for i := range t {
		t[i] = math.Float64bits(math.Exp2(float64(i+1)/bucketsPerOctave)) & mantissaMask
	}
	return t
}()

const mantissaMask = 1<<52 - 1

// bucketKey returns the key of the bucket holding d, clamped to
// [minKey, maxKey]. It reads the exponent and mantissa of d in seconds
// straight from the float's bits.
func bucketKey(d time.Duration) int {
	if d <= 0 {
		return minKey
	}
	bits := math.Float64bits(d.Seconds())
	exp := int(bits>>52) - 1023 // d is normal: at least 1ns, at most ~292 years
	mant := bits & mantissaMask
	k := exp * bucketsPerOctave
	if mant != 0 {
		k++
		for _, t := range octaveThresholds {
			if mant > t {
				k++
			}
		}
	}
	return min(max(k, minKey), maxKey)
}

// BucketUpperBound returns the inclusive upper bound, in seconds, of the
// bucket with key k: 2^(k/8).
func BucketUpperBound(k int) float64 { return math.Exp2(float64(k) / bucketsPerOctave) }

// bucketValue is the estimate reported for any value in bucket k: the point
// with the same relative distance α to both ends of (lo, hi].
func bucketValue(k int) float64 {
	lo, hi := BucketUpperBound(k-1), BucketUpperBound(k)
	return 2 * lo * hi / (lo + hi)
}

// Record adds one observation. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	if h.count == 0 || d < h.min {
		h.min = d
	}
	if h.count == 0 || d > h.max {
		h.max = d
	}
	h.count++
	h.sum += d
	h.add(bucketKey(d), 1)
}

// add adds n to bucket k, growing the stored range when needed.
func (h *Histogram) add(k int, n uint64) {
	i := k - h.offset
	if h.counts == nil || i < 0 || i >= len(h.counts) {
		h.grow(k)
		i = k - h.offset
	}
	h.counts[i] += n
}

// grow widens the stored range to include key k, with some slack in the
// direction of growth so that a spreading distribution does not reallocate
// on every new key.
func (h *Histogram) grow(k int) {
	if h.counts == nil {
		lo, hi := max(k-growSlack/2, minKey), min(k+growSlack/2, maxKey)
		h.offset, h.counts = lo, make([]uint64, hi-lo+1)
		return
	}
	lo, hi := h.offset, h.offset+len(h.counts)-1
	if k < lo {
		lo = max(k-growSlack, minKey)
	}
	if k > hi {
		hi = min(k+growSlack, maxKey)
	}
	c := make([]uint64, hi-lo+1)
	copy(c[h.offset-lo:], h.counts)
	h.offset, h.counts = lo, c
}

// Merge adds all observations of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.count == 0 {
		return
	}
	if h.count == 0 || o.min < h.min {
		h.min = o.min
	}
	if h.count == 0 || o.max > h.max {
		h.max = o.max
	}
	h.count += o.count
	h.sum += o.sum
	for i, n := range o.counts {
		if n != 0 {
			h.add(o.offset+i, n)
		}
	}
}

// Clone returns a deep copy of h, its stored range trimmed to the non-empty
// buckets.
func (h *Histogram) Clone() Histogram {
	c := *h
	lo, hi := 0, len(h.counts)
	for lo < hi && h.counts[lo] == 0 {
		lo++
	}
	for hi > lo && h.counts[hi-1] == 0 {
		hi--
	}
	if lo == hi {
		c.offset, c.counts = 0, nil
		return c
	}
	c.offset = h.offset + lo
	c.counts = append([]uint64(nil), h.counts[lo:hi]...)
	return c
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.count }

// Sum returns the exact sum of the observations.
func (h *Histogram) Sum() time.Duration { return h.sum }

// Min returns the smallest observation, or 0 when there is none.
func (h *Histogram) Min() time.Duration { return h.min }

// Max returns the largest observation, or 0 when there is none.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns Sum/Count, or 0 when there is no observation.
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return h.sum / time.Duration(h.count)
}

// Quantile estimates the nearest-rank q-quantile (the ⌈q·Count⌉-th smallest
// observation) within RelativeError; q <= 0 gives Min and q >= 1 gives Max.
// It returns 0 when there is no observation.
func (h *Histogram) Quantile(q float64) time.Duration {
	switch {
	case h.count == 0:
		return 0
	case q <= 0 || math.IsNaN(q):
		return h.min
	case q >= 1:
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	rank = min(max(rank, 1), h.count)
	var seen uint64
	for i, n := range h.counts {
		seen += n
		if seen >= rank {
			if h.offset+i == maxKey {
				return h.max // the last bucket is open-ended: no estimate
			}
			return h.clamp(bucketValue(h.offset + i))
		}
	}
	return h.max // unreachable when counts add up to count
}

// clamp converts an estimate in seconds to a Duration within [Min, Max].
func (h *Histogram) clamp(seconds float64) time.Duration {
	d := time.Duration(math.Round(seconds * 1e9))
	return min(max(d, h.min), h.max)
}

// Cumulative returns, for each upper bound in bounds (seconds, ascending),
// the number of observations at or below it, in the form
// prometheus.NewConstHistogram takes. Bounds that are not bucket boundaries
// are approximate: a bucket counts below a bound when its estimate
// (see Quantile) is, so the answer is exact up to RelativeError in the
// value. Bounds at or above Max count everything, bounds below Min nothing.
func (h *Histogram) Cumulative(bounds []float64) map[float64]uint64 {
	out := make(map[float64]uint64, len(bounds))
	var seen uint64
	i := 0
	for _, le := range bounds {
		switch {
		case h.count == 0 || le < h.min.Seconds():
			out[le] = 0
			continue
		case le >= h.max.Seconds():
			out[le] = h.count
			continue
		}
		for i < len(h.counts) && bucketValue(h.offset+i) <= le {
			seen += h.counts[i]
			i++
		}
		out[le] = seen
	}
	return out
}

// histogramJSON is the wire form of a Histogram. Durations are in seconds;
// counts[i] is the count of the bucket with key offset+i.
type histogramJSON struct {
	Schema int      `json:"schema"`
	Count  uint64   `json:"count"`
	Sum    float64  `json:"sum"`
	Min    float64  `json:"min"`
	Max    float64  `json:"max"`
	Offset int      `json:"offset"`
	Counts []uint64 `json:"counts"`
}

// MarshalJSON encodes h with its buckets, so that histograms read back from
// several snapshots can be merged.
func (h Histogram) MarshalJSON() ([]byte, error) {
	c := h.Clone()
	counts := c.counts
	if counts == nil {
		counts = []uint64{}
	}
	return json.Marshal(histogramJSON{
		Schema: HistogramSchema, Count: c.count, Sum: c.sum.Seconds(),
		Min: c.min.Seconds(), Max: c.max.Seconds(), Offset: c.offset, Counts: counts,
	})
}

// UnmarshalJSON decodes the form MarshalJSON writes and checks that it is
// consistent.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var j histogramJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.Schema != HistogramSchema {
		return fmt.Errorf("histogram: schema %d, want %d", j.Schema, HistogramSchema)
	}
	if len(j.Counts) > 0 && (j.Offset < minKey || j.Offset+len(j.Counts)-1 > maxKey) {
		return fmt.Errorf("histogram: buckets %d..%d outside %d..%d", j.Offset, j.Offset+len(j.Counts)-1, minKey, maxKey)
	}
	var total uint64
	for _, n := range j.Counts {
		total += n
	}
	if total != j.Count {
		return fmt.Errorf("histogram: buckets add up to %d, count is %d", total, j.Count)
	}
	*h = Histogram{
		count: j.Count, sum: secondsToDuration(j.Sum), min: secondsToDuration(j.Min),
		max: secondsToDuration(j.Max), offset: j.Offset, counts: j.Counts,
	}
	if len(h.counts) == 0 {
		h.offset, h.counts = 0, nil
	}
	return nil
}

func secondsToDuration(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }

// summaryQuantiles are the quantiles DurationSummary reports.
var summaryQuantiles = [...]float64{0.5, 0.95, 0.99, 0.999}

// Summary returns the histogram's headline numbers in seconds.
func (h *Histogram) Summary() DurationSummary {
	return DurationSummary{
		Sum:  h.sum.Seconds(),
		Min:  h.min.Seconds(),
		Mean: h.Mean().Seconds(),
		P50:  h.Quantile(summaryQuantiles[0]).Seconds(),
		P95:  h.Quantile(summaryQuantiles[1]).Seconds(),
		P99:  h.Quantile(summaryQuantiles[2]).Seconds(),
		P999: h.Quantile(summaryQuantiles[3]).Seconds(),
		Max:  h.max.Seconds(),
	}
}

// DurationSummary is a histogram's headline numbers, in seconds. The
// quantiles are estimates within RelativeError; the rest is exact.
type DurationSummary struct {
	Sum  float64 `json:"sum"`
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}
