package proxy_test

import (
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
)

// TestManyConnections holds 2,000 client connections through one proxy at
// once, runs a statement on each, and checks the server saw 2,000 distinct
// sessions. It logs what an idle relayed connection costs the process.
func TestManyConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 connections: skipped in -short mode")
	}
	testdb.Require(t)
	const n = 2000
	// Each relayed connection is 3 descriptors here (client socket, proxy's
	// accepted socket, proxy's upstream socket).
	raiseFileLimit(t, 3*n+512)
	checkLeaks(t)
	srv := throwawayServer(t, "--max-connections=2100")
	p := startObserved(t, srv.Addr, proxyOpts{quiet: true, infoOnly: true})

	goroutinesBefore := runtime.NumGoroutine()
	heapBefore, stackBefore := memInUse()

	clients := make([]*rawClient, n)
	forEach(t, n, func(i int) error {
		c, err := dialRaw(p.addr)
		clients[i] = c
		return err
	})
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.nc.Close()
			}
		}
	}()
	require.Equal(t, n, p.srv.OpenConns())
	assert.Equal(t, float64(n), p.metric(t, "querylens_connections_open"))

	heapHeld, stackHeld := memInUse()
	goroutinesHeld := runtime.NumGoroutine()
	t.Logf("%d idle connections: %+.0f goroutines (%.1f each), heap %+.1f MiB (%.1f KiB each), stacks %+.1f MiB (%.1f KiB each); "+
		"both ends of each client socket are in this process, the client side being a bare socket",
		n, float64(goroutinesHeld-goroutinesBefore), float64(goroutinesHeld-goroutinesBefore)/n,
		mib(heapHeld-heapBefore), kib(heapHeld-heapBefore)/n, mib(stackHeld-stackBefore), kib(stackHeld-stackBefore)/n)

	root, err := srv.Root()
	require.NoError(t, err)
	defer root.Close()
	var sessions int
	require.NoError(t, root.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE user = ?", testdb.User).Scan(&sessions))
	assert.Equal(t, n, sessions, "the server holds one session per client")

	ids := make([]string, n)
	forEach(t, n, func(i int) error {
		got, err := clients[i].query("SELECT CONNECTION_ID()")
		if err == nil && len(got) == 1 {
			ids[i] = got[0]
		}
		return err
	})
	distinct := map[string]bool{}
	for _, id := range ids {
		distinct[id] = true
	}
	assert.Len(t, distinct, n, "every client has its own server session")

	for _, c := range clients {
		c.quit()
	}
	p.waitIdle(t)
	require.Eventually(t, func() bool {
		return root.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE user = ?", testdb.User).Scan(&sessions) == nil && sessions == 0
	}, 30*time.Second, 20*time.Millisecond, "the server sessions end with their clients")
	p.noErrorLogs(t)
}

// forEach runs f(0..n-1) on 32 workers and fails the test on the first
// error.
func forEach(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan int)
	)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	require.Empty(t, errs)
}

// raiseFileLimit raises the soft limit on open files to at least want (up
// to the hard limit), and skips the test when the hard limit is lower.
func raiseFileLimit(t *testing.T, want uint64) {
	t.Helper()
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Cur >= want {
		return
	}
	if lim.Max < want {
		t.Skipf("open files hard limit %d is below the %d this test needs", lim.Max, want)
	}
	old := lim.Cur
	lim.Cur = want
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	t.Cleanup(func() {
		lim.Cur = old
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	})
}

// memInUse returns heap and goroutine stack memory in use after a
// collection.
func memInUse() (heap, stack uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}

func mib(b uint64) float64 { return float64(int64(b)) / (1 << 20) }
func kib(b uint64) float64 { return float64(int64(b)) / (1 << 10) }
