package stats_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/querylens/querylens/stats"
)

// BenchmarkObserveParallel calls Observe from GOMAXPROCS goroutines, as
// from many connections' pumps, with the writer running. The writer cannot
// keep up with a loop that does nothing but Observe, so most events take
// the drop path (reported as drops/op): the point is that callers never wait.
func BenchmarkObserveParallel(b *testing.B) {
	e := startEngine(b, stats.Config{})
	ev := query("SELECT name FROM users WHERE id = 42", "shop", 0, time.Millisecond)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.Observe(ev)
		}
	})
	b.ReportMetric(float64(e.Dropped())/float64(b.N), "drops/op")
}

func BenchmarkHistogramRecord(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	values := make([]time.Duration, 4096)
	for i := range values {
		values[i] = distributions["log-uniform 1µs-100s"](r)
	}
	var h stats.Histogram
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Record(values[i&(len(values)-1)])
		i++
	}
}

func BenchmarkHistogramQuantile(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	var h stats.Histogram
	for range 100_000 {
		h.Record(distributions["log-uniform 1µs-100s"](r))
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Quantile(0.99)
	}
}
