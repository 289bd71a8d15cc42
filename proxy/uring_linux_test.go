//go:build linux

package proxy

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestURingRecvSend drives a ring by hand over a socket pair: receives
// into provided buffers, each returned after use, for more rounds than
// there are buffers, and sends from them.
func TestURingRecvSend(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := newURing(8, 16, 4, 64)
	if err != nil {
		t.Skipf("io_uring not usable here: %v", err)
	}
	defer r.close()
	_, err = newURing(8, 16, 3, 64)
	require.Error(t, err, "provided buffers must be a power of two")
	a, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	require.NoError(t, err)
	defer unix.Close(a[0])
	defer unix.Close(a[1])
	wait := func() *uringCQE {
		t.Helper()
		r.publishBufs()
		r.flushSQ()
		require.Zero(t, r.enter(r.pending(), 1, nil))
		head, tail := r.completions()
		require.Equal(t, uint32(1), tail-head)
		c := *r.cqe(head)
		r.consumed(head + 1)
		return &c
	}
	for i := range 20 {
		msg := []byte(fmt.Sprintf("message %d", i))
		// Even rounds: the data is there when the receive is submitted;
		// odd rounds: the receive waits for it.
		if i%2 == 0 {
			_, err := unix.Write(a[0], msg)
			require.NoError(t, err)
		}
		r.recv(a[1], 7, i%4 == 1)
		if i%2 == 1 {
			r.flushSQ()
			require.Zero(t, r.enter(r.pending(), 0, nil))
			_, err := unix.Write(a[0], msg)
			require.NoError(t, err)
		}
		c := wait()
		require.Equal(t, uint64(7), c.userData)
		require.Equal(t, int32(len(msg)), c.res)
		require.NotZero(t, c.flags&cqeFBuffer)
		bid := uint16(c.flags >> cqeBufferShift)
		require.Equal(t, uint16(i%4), bid, "buffers are used in ring order")
		got := r.buf(bid, int(c.res))
		require.True(t, bytes.Equal(msg, got), "round %d: %q", i, got)
		r.send(a[1], got, 9)
		c = wait()
		require.Equal(t, uint64(9), c.userData)
		require.Equal(t, int32(len(msg)), c.res)
		r.giveBuf(bid)
		back := make([]byte, 64)
		n, err := unix.Read(a[0], back)
		require.NoError(t, err)
		require.Equal(t, msg, back[:n])
	}
}
