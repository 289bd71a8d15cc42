//go:build linux

package proxy

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// lockedRing locks the test to its thread, the one a ring accepts
// submissions from, and returns a ring with 4 provided buffers of 64
// bytes; it skips the test where io_uring is not usable.
func lockedRing(t *testing.T) *uring {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	r, err := newURing(8, 16, 4, 64)
	if err != nil {
		t.Skipf("io_uring not usable here: %v", err)
	}
	t.Cleanup(r.close)
	return r
}

// socketPair returns a connected pair of non-blocking stream sockets,
// closed when the test ends.
func socketPair(t *testing.T) [2]int {
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p
}

// TestURingRecvSend drives a ring by hand over a socket pair: receives
// into provided buffers, each returned after use, for more rounds than
// there are buffers, and sends from them.
func TestURingRecvSend(t *testing.T) {
	r := lockedRing(t)
	_, err := newURing(8, 16, 3, 64)
	require.Error(t, err, "provided buffers must be a power of two")
	a := socketPair(t)
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

// TestURingSendThenRecv checks the linked send and receive the loops
// queue for a small chunk: a send that succeeds posts nothing and starts
// the receive; one that fails posts its error, and the receive never
// runs (it takes no data and no buffer).
func TestURingSendThenRecv(t *testing.T) {
	r := lockedRing(t)
	// drain submits what is queued, waits up to 50 ms for an entry
	// (running the completion work deferred to the wait, such as a
	// receive's once data came) and returns the entries there.
	drain := func() []uringCQE {
		t.Helper()
		r.publishBufs()
		r.flushSQ()
		deadline := time.Now().Add(50 * time.Millisecond)
		for {
			ts := unix.NsecToTimespec(int64(time.Until(deadline)))
			e := r.enter(r.pending(), 1, &ts)
			if head, tail := r.completions(); e != unix.EINTR || head != tail || time.Now().After(deadline) {
				require.True(t, e == 0 || e == unix.ETIME || e == unix.EINTR, "enter: %v", e)
				break
			}
		}
		var got []uringCQE
		head, tail := r.completions()
		for ; head != tail; head++ {
			got = append(got, *r.cqe(head))
		}
		r.consumed(head)
		return got
	}
	src, dst := socketPair(t), socketPair(t)

	// Success: the send posts nothing; the receive runs after it.
	msg := []byte("a query")
	r.sendThenRecv(dst[1], msg, 1, src[1], 2, true)
	require.Empty(t, drain(), "a send that succeeds posts no entry, and the receive waits for data")
	back := make([]byte, 64)
	n, err := unix.Read(dst[0], back)
	require.NoError(t, err)
	require.Equal(t, msg, back[:n])
	_, err = unix.Write(src[0], []byte("reply"))
	require.NoError(t, err)
	got := drain()
	require.Len(t, got, 1)
	require.Equal(t, uint64(2), got[0].userData)
	require.Equal(t, int32(5), got[0].res)
	r.giveBuf(uint16(got[0].flags >> cqeBufferShift))

	// Failure: the send's error is posted; the receive is cancelled.
	unix.Close(dst[0])
	r.sendThenRecv(dst[1], msg, 3, src[1], 4, false)
	got = drain()
	require.NotEmpty(t, got)
	require.Equal(t, uint64(3), got[0].userData)
	require.Equal(t, -int32(unix.EPIPE), got[0].res)
	for _, c := range got[1:] {
		require.Equal(t, uint64(4), c.userData)
		require.Equal(t, -int32(unix.ECANCELED), c.res, "the receive after a failed send")
		require.Zero(t, c.flags&cqeFBuffer)
	}
	t.Logf("entries after a failed linked send: %d", len(got))
	_, err = unix.Write(src[0], []byte("left"))
	require.NoError(t, err)
	require.Empty(t, drain(), "the cancelled receive took nothing")
	n, err = unix.Read(src[1], back)
	require.NoError(t, err)
	require.Equal(t, "left", string(back[:n]))

	// A linked pair is never split across two submissions: with 7 of the
	// 8 submission entries taken, the pair waits for the next one (split,
	// the receive would run on its own after the failed send and take
	// the data).
	idle := socketPair(t)
	for range 7 {
		r.pollAdd(idle[1], pollIn, 99)
	}
	r.sendThenRecv(dst[1], msg, 5, src[1], 6, false)
	got = drain()
	require.Len(t, got, 1)
	require.Equal(t, uint64(5), got[0].userData)
	require.Equal(t, -int32(unix.EPIPE), got[0].res)
	_, err = unix.Write(src[0], []byte("kept"))
	require.NoError(t, err)
	require.Empty(t, drain(), "the receive linked to the failed send took nothing")
	n, err = unix.Read(src[1], back)
	require.NoError(t, err)
	require.Equal(t, "kept", string(back[:n]))
}

// TestURingLinkedSendFallsShort drives sentCopy, the completion of a
// linked send that fell short or failed, on a loop's connection by hand:
// a short send (its completion made up, as the kernel would post it after
// a partial send) has its rest sent and the receive linked again, with the
// bytes counted once; a failed one ends the direction with a write error
// and uncounts what it did not send.
func TestURingLinkedSendFallsShort(t *testing.T) {
	r := lockedRing(t)
	client, server := socketPair(t), socketPair(t) // the proxy's ends are [1]
	l := &eventLoop{ring: r, slots: []loopSlot{{gen: 1}}}
	errc := make(chan error, 2)
	lc := &loopConn{loop: l, errc: errc, fd: [2]int{client[1], server[1]}, gen: 1}
	l.slots[0].lc = lc
	submit := func() {
		r.flushSQ()
		require.Zero(t, r.enter(r.pending(), 0, nil))
	}
	read := func(fd int) []byte {
		b := make([]byte, 4096)
		n, err := unix.Read(fd, b)
		require.NoError(t, err)
		return b[:n]
	}

	d := &lc.dirs[sideClient]
	d.store = make([]byte, ringCopyMax)
	msg := d.store[:copy(d.store, "SELECT 1 -- a query sent in two parts")]
	d.pending = msg
	lc.sendCopy(sideClient)
	require.True(t, d.linked)
	require.Equal(t, uint64(len(msg)), l.relayed[sideClient], "counted when queued")
	submit()
	require.Equal(t, msg, read(server[0]))

	// As if the kernel had sent 9 bytes only: the rest goes out.
	l.complete(ringKey(0, 1, ringSendCopy, sideClient, 0), 9, 0)
	require.True(t, d.linked)
	require.Equal(t, msg[9:], d.pending)
	submit()
	require.Equal(t, msg[9:], read(server[0]))
	require.Equal(t, uint64(len(msg)), l.relayed[sideClient], "9 bytes by the short send, the rest by the next")

	// A failed send: nothing of it counts, and the direction ends.
	before := l.relayed[sideClient]
	l.complete(ringKey(0, 1, ringSendCopy, sideClient, 0), -int32(unix.EPIPE), 0)
	require.Equal(t, before-uint64(len(msg)-9), l.relayed[sideClient], "what the failed send queued is not counted")
	require.False(t, d.linked)
	require.True(t, d.done)
	err := <-errc
	require.ErrorIs(t, err, unix.EPIPE)
	require.Contains(t, err.Error(), "write upstream")

	// The receive linked to the short send's rest runs when data comes.
	_, err = unix.Write(client[0], []byte("ignored"))
	require.NoError(t, err)
	r.publishBufs()
	require.Zero(t, r.enter(0, 1, nil))
	head, tail := r.completions()
	require.Equal(t, uint32(1), tail-head)
	c := *r.cqe(head)
	r.consumed(tail)
	require.Equal(t, ringKey(0, 1, ringRecv, sideClient, 0), c.userData)
	l.complete(c.userData, c.res, c.flags) // on an ended direction: the buffer goes back
	require.Equal(t, uint16(1), r.bufAdded)
}
