package stats_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/stats"
)

// TestMergeEqualsUnion feeds a workload split over two engines, merges their
// snapshots (after a JSON round trip, as from two proxies) and compares with
// one engine that saw everything.
func TestMergeEqualsUnion(t *testing.T) {
	all := startEngine(t, stats.Config{MaxDigests: 100})
	parts := []*stats.Engine{startEngine(t, stats.Config{MaxDigests: 100}), startEngine(t, stats.Config{MaxDigests: 100})}
	for i := range 600 {
		sql := "SELECT c" + strconv.Itoa(i%7) + " FROM t WHERE id = " + strconv.Itoa(i)
		ev := func() *stats.Engine { return parts[(i/3)%2] } // both parts see every key
		mk := func() *protocol.Event {
			e := query(sql, "s"+strconv.Itoa(i%2), time.Duration(i)*time.Second, time.Duration(1+i*37%5000)*time.Microsecond)
			e.User = "u" + strconv.Itoa(i%3)
			if i%11 == 0 {
				e.ErrorCode = uint16(1000 + i%4)
			}
			e.RowsSent = uint64(i % 5)
			return e
		}
		all.Observe(mk())
		ev().Observe(mk())
	}
	want := flush(t, all)
	var decoded []*stats.Snapshot
	for _, p := range parts {
		b, err := json.Marshal(flush(t, p))
		require.NoError(t, err)
		var s stats.Snapshot
		require.NoError(t, json.Unmarshal(b, &s))
		decoded = append(decoded, &s)
	}
	got := stats.Merge(decoded...)

	// Compare through JSON as well, so that times and empty collections
	// compare by value.
	roundTrip := func(v any) any {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		var out any
		require.NoError(t, json.Unmarshal(b, &out))
		return out
	}
	require.Len(t, got.Digests, len(want.Digests))
	for i := range want.Digests {
		// Units of work count when they end: each engine's last one is
		// still open, so two engines count one fewer than one engine.
		w, g := roundTrip(want.Digests[i]).(map[string]any), roundTrip(got.Digests[i]).(map[string]any)
		assert.InDelta(t, w["units"], g["units"], 1, "entry %d", i)
		delete(w, "units")
		delete(g, "units")
		assert.Equal(t, w, g, "entry %d", i)
	}
	assert.Equal(t, want.Commands, got.Commands)
	assert.Equal(t, want.CommandErrors, got.CommandErrors)
	assert.Equal(t, want.Events, got.Events)
	assert.Equal(t, want.Since, got.Since)
}

func TestMergeNothing(t *testing.T) {
	s := stats.Merge(nil)
	assert.Empty(t, s.Digests)
	require.NotNil(t, s.Overflow)
	assert.Equal(t, stats.SnapshotVersion, s.Version)
}
