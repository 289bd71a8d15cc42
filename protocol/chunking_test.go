package protocol_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/protocol"
)

// Feeding the same stream in other chunk sizes must give identical events,
// timings included (each piece keeps the time of the chunk it came from).
func TestChunking(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			c, err := readCapture(framesPath(sc.name))
			require.NoError(t, err)
			want, s := replay(c, protocol.SessionConfig{}, nil, true)
			require.NoError(t, s.Err())

			in, out := c.totals()
			splits := map[string]func(int) []int{
				"random":       randomSplits(rand.New(rand.NewPCG(1, 2)), 64),
				"random-large": randomSplits(rand.New(rand.NewPCG(3, 4)), 70000),
				"3":            fixedSplits(3),
				"7":            fixedSplits(7),
			}
			if in+out < 1<<20 || !testing.Short() && in+out < 8<<20 {
				splits["1"] = fixedSplits(1)
			}
			for name, split := range splits {
				got, s := replay(c, protocol.SessionConfig{}, split, true)
				require.NoError(t, s.Err(), name)
				require.Equal(t, len(want), len(got), name)
				for i := range want {
					assert.Equal(t, *want[i], *got[i], "split %s, event %d", name, i)
				}
			}
		})
	}
}

func fixedSplits(n int) func(int) []int {
	return func(total int) []int {
		var out []int
		for total > 0 {
			k := min(n, total)
			out = append(out, k)
			total -= k
		}
		return out
	}
}

func randomSplits(r *rand.Rand, maxLen int) func(int) []int {
	return func(total int) []int {
		var out []int
		for total > 0 {
			k := min(1+r.IntN(maxLen), total)
			out = append(out, k)
			total -= k
		}
		return out
	}
}

// Coalescing consecutive chunks of one direction (as a slower reader would
// see them) changes only the times.
func TestChunkingCoalesced(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			c, err := readCapture(framesPath(sc.name))
			require.NoError(t, err)
			want, _ := replay(c, protocol.SessionConfig{}, nil, true)
			merged := &capture{}
			for _, ch := range c.Chunks {
				if n := len(merged.Chunks); n > 0 && merged.Chunks[n-1].Dir == ch.Dir {
					merged.Chunks[n-1].Data = append(merged.Chunks[n-1].Data, ch.Data...)
					continue
				}
				merged.Chunks = append(merged.Chunks, chunk{Dir: ch.Dir, At: ch.At, Data: append([]byte(nil), ch.Data...)})
			}
			got, s := replay(merged, protocol.SessionConfig{}, nil, true)
			require.NoError(t, s.Err())
			assert.Equal(t, formatEvents(want), formatEvents(got))
		})
	}
}
