//go:build linux

package proxy_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/proxy"
)

// TestURingBuffersRunOut: with two provided buffers per loop and six
// connections whose clients read their 4 MiB results only after a pause,
// the buffers all wait in sends to clients that do not read, and the other
// directions' receives find none. Each gets one when a send completes, and
// every result arrives whole and in order.
func TestURingBuffersRunOut(t *testing.T) {
	srv := testdb.Require(t)
	if testRelayPumps() || testRelayEpoll() {
		t.Skip("io_uring loops are not used here")
	}
	checkLeaks(t)
	defer proxy.SetRingBuffers(2)()
	p := startObserved(t, srv.Addr, proxyOpts{config: func(c *proxy.Config) { c.EventLoops = 1 }})
	const conns, rows = 6, 4
	clients := make([]*rawClient, conns)
	for i := range clients {
		c, err := dialRaw(p.addr)
		require.NoError(t, err)
		defer c.nc.Close()
		clients[i] = c
	}
	if !p.srv.UsesURing() {
		t.Skip("io_uring is not usable on this machine: the loops use epoll")
	}
	for i, c := range clients {
		require.NoError(t, c.sendQuery(fmt.Sprintf("SELECT seq, REPEAT(CHAR(65 + %d), 1048576) FROM seq_1_to_%d", i, rows)))
	}
	time.Sleep(300 * time.Millisecond) // the results fill the sockets and the buffers
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.nc.SetDeadline(time.Now().Add(60 * time.Second))
			if _, err := c.resultHead(); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			want := bytes.Repeat([]byte{byte('A' + i)}, 1<<20)
			for r := 1; ; r++ {
				pkt, _, err := c.readPacket()
				if err != nil {
					errs <- fmt.Errorf("client %d row %d: %w", i, r, err)
					return
				}
				if isEOF(len(pkt), pkt[0]) {
					if r != rows+1 {
						errs <- fmt.Errorf("client %d: %d rows", i, r-1)
					}
					return
				}
				// A row: "1" then the 1 MiB string, each length-prefixed.
				if pkt[0] != 1 || pkt[1] != byte('0'+r) || !bytes.HasSuffix(pkt, want) {
					errs <- fmt.Errorf("client %d row %d: %d bytes, not the row sent", i, r, len(pkt))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	for _, c := range clients {
		got, err := c.query("SELECT 7")
		require.NoError(t, err)
		assert.Equal(t, []string{"7"}, got, "the connections still work")
	}
}
