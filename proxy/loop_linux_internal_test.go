//go:build linux

package proxy

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestCanHoldP: loops keep their Ps while they wait only as long as
// GOMAXPROCS leaves one to the rest of the program, so that lowering it
// (testing.AllocsPerRun sets 1) cannot leave every goroutine behind a loop
// blocked in epoll_wait.
func TestCanHoldP(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(before)
	addProcs(2)
	assert.Equal(t, before+2, runtime.GOMAXPROCS(0))
	assert.True(t, canHoldP(), "two loops, two Ps added")
	runtime.GOMAXPROCS(2)
	assert.False(t, canHoldP(), "two loops, GOMAXPROCS lowered to 2")
	runtime.GOMAXPROCS(3)
	assert.True(t, canHoldP(), "two loops and one P for the rest")
	addProcs(-2)
	assert.Equal(t, 1, runtime.GOMAXPROCS(0))
	assert.True(t, canHoldP(), "no loop")
}

// TestLoopSlots: the epoll data of a socket leads back to its connection
// and side, and once the connection closes its slot is reused under a new
// generation, so that an event read before the close reaches nobody.
func TestLoopSlots(t *testing.T) {
	l, err := newEventLoop(4096, NewMetrics(nil))
	require.NoError(t, err)
	defer unix.Close(l.epfd)
	defer unix.Close(l.wakefd)
	open := func() *loopConn {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		lc := &loopConn{loop: l, fd: [2]int{fds[0], fds[1]}, errc: make(chan error, 2)}
		require.NoError(t, l.add(lc))
		return lc
	}
	a := open()
	old := [2]uint64{key(a.slot, l.slots[a.slot].gen, 0), key(a.slot, l.slots[a.slot].gen, 1)}
	for side, k := range old {
		lc, s := l.lookup(k)
		assert.Same(t, a, lc)
		assert.Equal(t, side, s)
	}
	a.close()
	b := open()
	defer b.close()
	assert.Equal(t, a.slot, b.slot, "the freed slot is reused")
	for _, k := range old {
		lc, _ := l.lookup(k)
		assert.Nil(t, lc, "an event of the closed connection reached the slot's new tenant")
	}

	// What the kernel hands back: b's client side writes, its upstream
	// side becomes readable.
	_, err = unix.Write(b.fd[sideClient], []byte("x"))
	require.NoError(t, err)
	events := make([]unix.EpollEvent, 8)
	n, errno := epollWait(l.epfd, events, 1000)
	require.Zero(t, errno)
	readable := false
	for _, ev := range events[:n] {
		lc, side := l.lookup(keyOf(&ev))
		require.Same(t, b, lc)
		if side == sideUpstream && ev.Events&unix.EPOLLIN != 0 {
			readable = true
		}
	}
	assert.True(t, readable, "no EPOLLIN for b's upstream side in %d events", n)
}
