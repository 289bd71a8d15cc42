package proxy_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/protocol"
)

// countingSink counts the statements it was handed. It takes its time
// before counting, as a sink that wakes another goroutine does, which widens
// the window in which a reply relayed before its event would be seen first.
type countingSink struct {
	mu      sync.Mutex
	queries int
}

func (s *countingSink) Observe(ev *protocol.Event) {
	if ev.Command == protocol.ComQuery {
		time.Sleep(100 * time.Microsecond)
		s.mu.Lock()
		s.queries++
		s.mu.Unlock()
	}
}

func (s *countingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// TestEventBeforeReply: a statement's event reaches the sink before the
// client holds the end of its reply, so a client that reads the statistics
// right after a statement finds it counted (the API, the tests and every
// "run it, then look" workflow rely on that), and events of consecutive
// connections of one client keep their order.
func TestEventBeforeReply(t *testing.T) {
	srv := testdb.Require(t)
	sink := &countingSink{}
	p := startObserved(t, srv.Addr, proxyOpts{sink: sink, quiet: true})
	c, err := dialRaw(p.addr)
	require.NoError(t, err)
	defer c.quit()
	for i := 1; i <= 200; i++ {
		_, err := c.query("SELECT 1")
		require.NoError(t, err)
		require.Equal(t, i, sink.count(), "statement %d: the client has its reply, the sink must have its event", i)
	}
}
