package protocol

import (
	"math/rand/v2"
	"testing"
)

// TestStmtTableMatchesMap runs random adds, updates, cursor changes,
// removals and clears against a plain map: the direct-mapped recent
// entries in front of the table's map must never answer with a statement
// that was removed, replaced or belongs to another id of the same slot.
func TestStmtTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tab stmtTable
	want := map[uint32]stmtInfo{}
	for step := range 20000 {
		id := uint32(1 + rng.IntN(400)) // ids 1..400 share the 128 recent slots
		switch op := rng.IntN(10); {
		case op < 3:
			st := stmtInfo{sql: "SELECT " + string(rune('a'+step%26)), params: uint16(step % 7)}
			tab.add(id, st)
			st.id = id
			want[id] = st
		case op < 5:
			if st, ok := tab.lookup(id); ok {
				st.params++
				tab.update(id, st)
				want[id] = st
			}
		case op < 6:
			tab.setCursor(id, true)
			if st, ok := want[id]; ok {
				st.cursor = true
				want[id] = st
			}
		case op < 8:
			tab.remove(id)
			delete(want, id)
		case op < 9 && step%50 == 0:
			tab.clear()
			clear(want)
		}
		for probe := uint32(1); probe <= 400; probe++ {
			got, ok := tab.lookup(probe)
			w, wok := want[probe]
			if ok != wok || got.id != w.id || got.sql != w.sql || got.params != w.params || got.cursor != w.cursor {
				t.Fatalf("step %d: id %d: got %+v (%v), want %+v (%v)", step, probe, got, ok, w, wok)
			}
		}
		if tab.len() != len(want) {
			t.Fatalf("step %d: %d statements, want %d", step, tab.len(), len(want))
		}
	}
}
