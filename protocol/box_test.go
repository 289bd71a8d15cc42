package protocol

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestValueSlab boxes values of every kind past several slab rollovers and
// checks each afterwards, as its type and value: the interfaces point into
// arrays that later values must never write over.
func TestValueSlab(t *testing.T) {
	var s valueSlab
	var got, want []any
	for i := range 3 * max(wordSlab, stringSlab) {
		n := int64(i)*7919 - 1000
		w := []any{n, uint64(n) * 3, float64(n) / 3, string(rune('a'+i%26)) + "x", int64(i % 256), uint64(i % 256), ""}
		got = append(got, s.boxInt(n), s.boxUint(uint64(n)*3), s.boxFloat64(float64(n)/3), s.boxString(string(rune('a'+i%26))+"x"),
			s.boxInt(int64(i%256)), s.boxUint(uint64(i%256)), s.boxString(""))
		want = append(want, w...)
	}
	for i := range want {
		require.Equal(t, want[i], got[i], "value %d", i)
	}
	extremes := []any{s.boxInt(math.MinInt64), s.boxInt(math.MaxInt64), s.boxInt(-1), s.boxUint(math.MaxUint64), s.boxFloat64(math.Inf(-1))}
	require.Equal(t, []any{int64(math.MinInt64), int64(math.MaxInt64), int64(-1), uint64(math.MaxUint64), math.Inf(-1)}, extremes)
	nan, ok := s.boxFloat64(math.NaN()).(float64)
	require.True(t, ok)
	require.True(t, math.IsNaN(nan))
	switch v := s.boxInt(300).(type) {
	case int64:
		require.Equal(t, int64(300), v)
	default:
		t.Fatalf("boxed int64 switched as %T", v)
	}
}

func TestValueSlabAllocations(t *testing.T) {
	var s valueSlab
	var sink any
	allocs := testing.AllocsPerRun(1000, func() {
		sink = s.boxInt(123456)
		sink = s.boxUint(1 << 40)
		sink = s.boxFloat64(2.5)
		sink = s.boxString("alice@example.com")
	})
	_ = sink
	// A new array now and then: 1,000 runs fill about 8 word slabs and
	// 16 string slabs.
	if allocs > 0.1 {
		t.Errorf("%v allocations per four values, want 0 but for a new slab now and then", allocs)
	}
}
