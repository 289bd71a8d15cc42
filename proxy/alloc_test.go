package proxy_test

import (
	"io"
	"math"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRelayAllocations guards the relay's budget: nothing per relayed
// frame, so a query answered with 5,000 rows costs what a 1-row query
// costs: its SQL text (its event is given back by the sink and reused).
// The count is the whole process's (fake server and client allocate
// nothing per round trip), averaged over many round trips. Under the race
// detector sync.Pool drops some of what it is given, so the event may be
// allocated too.
func TestRelayAllocations(t *testing.T) {
	want := 1.0
	if raceEnabled {
		want = 2
	}
	for _, rows := range []int{1, 5000} {
		resp := benchResult(rows)
		c, err := net.Dial("tcp", querylensRelay(t, fakeServer(t, resp)))
		require.NoError(t, err)
		defer c.Close()
		_, err = io.ReadFull(c, make([]byte, len(benchGreeting())))
		require.NoError(t, err)
		_, err = c.Write(benchHandshakeResponse())
		require.NoError(t, err)
		_, err = io.ReadFull(c, make([]byte, len(benchAuthOK)))
		require.NoError(t, err)
		buf := make([]byte, len(resp))
		var ioErr error
		// The least of three attempts: on a loaded machine a pump's wait can
		// outlast its confirm deadline (confirmDelay), whose expiry
		// allocates its error; that is not the relay's steady state, while
		// an allocation per query or frame shows in every attempt.
		allocs := math.Inf(1)
		for range 3 {
			allocs = min(allocs, testing.AllocsPerRun(200, func() {
				if _, err := c.Write(benchQuery); err != nil {
					ioErr = err
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					ioErr = err
				}
			}))
			require.NoError(t, ioErr)
			if allocs <= want {
				break
			}
		}
		require.Equal(t, resp, buf, "relayed unchanged")
		if allocs > want {
			t.Errorf("%d rows: %v allocations per query, want at most %v (the SQL text)", rows, allocs, want)
		}
	}
}
