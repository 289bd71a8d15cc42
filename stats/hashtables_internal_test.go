package stats

import (
	"math/rand/v2"
	"testing"
)

// TestValueCounts checks valueCounts against a map doing what it replaced,
// with keys that are hashes and keys that are not (small integers, which
// all share their low bits with some other key).
func TestValueCounts(t *testing.T) {
	for name, key := range map[string]func(r *rand.Rand) uint64{
		"hashes":       func(r *rand.Rand) uint64 { return r.Uint64() >> r.IntN(64) },
		"small ints":   func(r *rand.Rand) uint64 { return uint64(r.IntN(400)) },
		"multiples":    func(r *rand.Rand) uint64 { return uint64(r.IntN(400)) << 32 },
		"zero and one": func(r *rand.Rand) uint64 { return uint64(r.IntN(2)) },
	} {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			pool := &valueSlotPool{}
			for i := range 20 {
				if i == 10 {
					pool = nil // allocates
				}
				var c valueCounts
				m := map[uint64]int32{}
				for range r.IntN(2000) {
					k, n := key(r), int32(1+r.IntN(3))
					got, ok := c.add(k, n, maxUnitValues, pool)
					want, have := m[k]
					if have || len(m) < maxUnitValues {
						m[k] = want + n
						if !ok || got != want+n {
							t.Fatalf("add(%d, %d) = %d, %v; want %d, true", k, n, got, ok, want+n)
						}
					} else if ok || got != 0 {
						t.Fatalf("add(%d, %d) on a full table = %d, %v; want 0, false", k, n, got, ok)
					}
					if c.len() != len(m) {
						t.Fatalf("len = %d, want %d", c.len(), len(m))
					}
				}
				var sum, wantSum int32
				n := 0
				for v := range c.all() {
					sum += v
					n++
				}
				for _, v := range m {
					wantSum += v
				}
				if n != len(m) || sum != wantSum {
					t.Fatalf("all: %d counts summing to %d, want %d summing to %d", n, sum, len(m), wantSum)
				}
				c.release(pool) // the next tables may be this one's
				if c.len() != 0 {
					t.Fatalf("len after release = %d", c.len())
				}
			}
		})
	}
}

// TestRowTable checks rowTable against a map doing what it replaced.
func TestRowTable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		var tb rowTable
		m := map[rowKey]*rowAccess{}
		for range r.IntN(1000) {
			// Few columns and values, so that keys repeat and share halves.
			k := rowKey{uint64(r.IntN(3)) * 0x100000001, uint64(r.IntN(300))}
			got := tb.get(k)
			if got != m[k] {
				t.Fatalf("get(%v) = %p, want %p", k, got, m[k])
			}
			if got == nil && len(m) < maxUnitRows {
				ra := &rowAccess{key: k}
				tb.put(ra)
				m[k] = ra
			}
			if tb.len() != len(m) {
				t.Fatalf("len = %d, want %d", tb.len(), len(m))
			}
		}
		n := 0
		for ra := range tb.all() {
			if m[ra.key] != ra {
				t.Fatalf("all yields %v, which the map does not hold", ra.key)
			}
			n++
		}
		if n != len(m) {
			t.Fatalf("all yields %d rows, want %d", n, len(m))
		}
	}
}

// TestStmtMap runs random puts and removes against a plain map: the
// direct-mapped entries must never answer with a statement that was
// removed, replaced, or is another id's of the same slot.
func TestStmtMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var sm stmtMap
	want := map[uint32]*stmtState{}
	for step := range 20000 {
		id := uint32(1 + rng.IntN(400)) // ids 1..400 share the 128 slots
		switch op := rng.IntN(10); {
		case op < 4:
			st := &stmtState{sqlLen: step}
			sm.put(id, st)
			want[id] = st
		case op < 7:
			sm.remove(id)
			delete(want, id)
		case op == 7 && step%100 == 0:
			sm = stmtMap{}
			clear(want)
		}
		for probe := uint32(1); probe <= 400; probe++ {
			if got, w := sm.get(probe), want[probe]; got != w {
				t.Fatalf("step %d: id %d: got %p, want %p", step, probe, got, w)
			}
		}
		if sm.len() != len(want) {
			t.Fatalf("step %d: %d statements, want %d", step, sm.len(), len(want))
		}
	}
}
