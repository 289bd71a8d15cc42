package proxy_test

import (
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/proxy"
)

// TestRelayChoice: plain connections go to the event loops unless
// Config.Pumps asks for goroutine pumps, and the metric says which.
func TestRelayChoice(t *testing.T) {
	srv := testdb.Require(t)
	checkLeaks(t)
	for _, pumps := range []bool{false, true} {
		t.Run(fmt.Sprintf("pumps=%v", pumps), func(t *testing.T) {
			p := startObserved(t, srv.Addr, proxyOpts{config: func(c *proxy.Config) { c.Pumps = pumps }})
			db, err := sql.Open("mysql", srv.DSN(p.addr, testdb.Schema))
			require.NoError(t, err)
			defer db.Close()
			var n int
			require.NoError(t, db.QueryRow("SELECT 41 + 1").Scan(&n))
			assert.Equal(t, 42, n)
			loop, pumped := p.metric(t, "querylens_relayed_connections_total", "relay", "event_loop"),
				p.metric(t, "querylens_relayed_connections_total", "relay", "pumps")
			if pumps {
				assert.Equal(t, []float64{0, 1}, []float64{loop, pumped})
			} else {
				assert.Equal(t, []float64{1, 0}, []float64{loop, pumped})
			}
		})
	}
}

// TestRelayBulkBesideSmall: connections streaming large results share the
// loops with connections running small statements; every result arrives
// whole and in order on each connection.
func TestRelayBulkBesideSmall(t *testing.T) {
	srv := testdb.Require(t)
	checkLeaks(t)
	p := startObserved(t, srv.Addr, proxyOpts{})
	db, err := sql.Open("mysql", srv.DSN(p.addr, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(16)

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// About 8 MiB: rows of 1 KiB, each naming its number.
			rows, err := db.Query(fmt.Sprintf("SELECT seq, REPEAT(CHAR(65 + %d), 1024) FROM seq_1_to_8000", i))
			if err != nil {
				errs <- err
				return
			}
			defer rows.Close()
			want := 1
			for rows.Next() {
				var seq int
				var s string
				if err := rows.Scan(&seq, &s); err != nil {
					errs <- err
					return
				}
				if seq != want || s != strings.Repeat(string(rune('A'+i)), 1024) {
					errs <- fmt.Errorf("stream %d: row %d is %d %.8q", i, want, seq, s)
					return
				}
				want++
			}
			if err := rows.Err(); err != nil {
				errs <- err
			} else if want != 8001 {
				errs <- fmt.Errorf("stream %d: %d rows", i, want-1)
			}
		}()
	}
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 300 {
				var got int
				if err := db.QueryRow("SELECT ? * 1000 + ?", i, j).Scan(&got); err != nil {
					errs <- err
					return
				}
				if got != i*1000+j {
					errs <- fmt.Errorf("small %d/%d: got %d", i, j, got)
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
}

// TestEventLoopProcs: each event loop comes with a P of its own, as a busy
// loop holds one while it waits in epoll_wait, and gives it back when the
// server stops; loops holding their Ps still let the runtime stop the
// world, here for a hundred collections while four connections keep them
// busy.
func TestEventLoopProcs(t *testing.T) {
	if runtime.GOOS != "linux" || testRelayPumps() {
		t.Skip("event loops are not used here")
	}
	srv := testdb.Require(t)
	checkLeaks(t)
	before := runtime.GOMAXPROCS(0)
	p := startObserved(t, srv.Addr, proxyOpts{config: func(c *proxy.Config) { c.EventLoops = 3 }})
	db, err := sql.Open("mysql", srv.DSN(p.addr, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(4)
	require.NoError(t, db.Ping())
	assert.Equal(t, before+3, runtime.GOMAXPROCS(0), "GOMAXPROCS with three loops")

	stop := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	var queries atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n int
				if err := db.QueryRow("SELECT 1").Scan(&n); err != nil {
					errs <- err
					return
				}
				queries.Add(1)
			}
		}()
	}
	for range 100 {
		runtime.GC()
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Positive(t, queries.Load())
	require.NoError(t, db.Close())
	require.NoError(t, p.srv.Close())
	assert.Equal(t, before, runtime.GOMAXPROCS(0), "GOMAXPROCS once the server stopped")
}
