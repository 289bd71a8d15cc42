//go:build linux

package proxy

import (
	"errors"
	"io"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// An event loop with an io_uring (see uring) in place of its epoll set.
// Where the epoll loop learns that a socket is readable, reads it and
// writes the chunk to the other socket, a system call each, this loop
// keeps a receive queued on every socket whose direction has nothing in
// flight, and queues a send for every chunk received: one io_uring_enter
// submits the sends and receives queued since the last and returns what
// every ready socket received meanwhile. A direction has one operation in
// flight at a time, a receive or the send of what it received, so its
// chunks reach the peer in order, and a peer that does not read holds up
// only its own direction (the kernel waits for room in its socket; TCP
// pushes back on the sender as it does with the pumps).
//
// A small chunk (a query, a short reply: up to ringCopyMax bytes) is
// copied out of its provided buffer into the direction's own, and its send
// is linked to the direction's next receive, which the kernel starts when
// the send is done: a hop is one io_uring_enter, which sends the chunk and
// then waits for what comes next, and the send posts a completion only
// when it fails. A larger chunk is sent from its provided buffer, which it
// keeps until the send's completion, and the next receive is queued then:
// a buffer held until the next chunk arrives would be held by every idle
// connection.
//
// Sending from the ring rather than with send(2) changes who waits for a
// peer: the kernel, woken by a sent chunk, tends to switch to the woken
// peer as the sending thread leaves the kernel; with the sends of a batch
// in one io_uring_enter, that happens once per batch rather than once per
// chunk.
//
// Sockets are closed by the loop: an operation queued but not yet
// submitted names its socket by number, and a number closed and reused
// meanwhile would have it read or write another connection's socket.
// close leaves the descriptors to the loop, which, once everything queued
// before is submitted, shuts the sockets down (their peers see the end,
// operations in flight complete) and closes them.

// Operations in an entry's user data (see ringKey).
const (
	ringRecv     = 0 // a receive on side
	ringSend     = 1 // a send of what side received, from a provided buffer
	ringSendCopy = 2 // a send of a copy of what side received, linked to the next receive
)

// A loop's ring: submission entries, completion entries (two operations
// in flight per connection at most, one per direction, so 16,384 entries
// hold every completion of 8,192 connections between two waits; beyond,
// the kernel keeps them until there is room), and provided buffers of
// Config.BufferSize (128 of 32 KiB by default: 4 MiB of address space, in
// memory as they are first used).
const (
	ringEntries   = 256
	ringCQEntries = 16384
	ringBufs      = 128 // at most 256: a buffer id has 8 bits in ringKey
	ringCopyMax   = 2048
)

// ringBufCount is ringBufs, but for tests.
var ringBufCount = ringBufs

// ringKey is the user data of an operation on side of the connection in
// slot i of generation gen: bit 0 the side, 1 and 2 the operation, 3 to 10
// the buffer a send sends from, 11 to 39 the slot and 40 to 63 the slot's
// generation (its low 24 bits). Never 0, which is the wake fd's poll,
// since generations start at 1.
func ringKey(i int, gen uint32, op, side int, bid uint16) uint64 {
	return uint64(gen&0xffffff)<<40 | uint64(i)<<11 | uint64(bid&0xff)<<3 | uint64(op)<<1 | uint64(side)
}

// runRing is run for a loop with a ring.
func (l *eventLoop) runRing() {
	r := l.ring
	defer unix.Close(l.epfd)
	defer unix.Close(l.wakefd)
	defer r.close()
	r.pollAdd(l.wakefd, pollIn, 0)
	lastYield := time.Now()
	hold := canHoldP()
	busy := unix.NsecToTimespec(int64(busyWait))
	var closing []*loopConn
	for {
		r.publishBufs()
		r.flushSQ()
		l.mu.Lock()
		closing, l.closing = l.closing, closing[:0]
		l.mu.Unlock()
		if len(closing) > 0 {
			// Entries naming these sockets were queued before close
			// marked the connection: once submitted (a send goes out
			// as it is submitted when the socket has room), the sockets
			// are shut down, which ends their peers' streams and the
			// operations in flight on them, and closed.
			if n := r.pending(); n > 0 {
				if e := r.enter(n, 0, nil); e != 0 && e != unix.EINTR && e != unix.EBUSY {
					panic(os.NewSyscallError("io_uring_enter", e))
				}
			}
			for _, lc := range closing {
				lc.shutClose()
			}
			clear(closing)
		}
		var errno unix.Errno
		if hold {
			errno = r.enter(r.pending(), 1, &busy)
			if head, tail := r.completions(); head == tail && (errno == 0 || errno == unix.ETIME) {
				l.publish()
				errno = r.enter(r.pending(), 1, nil)
			}
		} else {
			l.publish()
			errno = r.enter(r.pending(), 1, nil)
		}
		switch errno {
		case 0, unix.ETIME, unix.EBUSY:
		case unix.EINTR:
			runtime.Gosched()
			lastYield = time.Now()
			hold = canHoldP()
		default:
			// Only a programming error (EBADF, EINVAL, EFAULT) gets here.
			panic(os.NewSyscallError("io_uring_enter", errno))
		}
		now := time.Now()
		l.now = now
		head, tail := r.completions()
		for ; head != tail; head++ {
			cqe := r.cqe(head)
			ud, res, flags := cqe.userData, cqe.res, cqe.flags
			if ud == 0 {
				if l.woken() {
					r.consumed(tail)
					l.closeAll()
					l.publish()
					return
				}
				continue
			}
			l.complete(ud, res, flags)
		}
		r.consumed(head)
		if now.Sub(lastYield) >= yieldEvery {
			l.publish()
			runtime.Gosched()
			lastYield = now
			hold = canHoldP()
		}
	}
}

// woken handles the wake fd's poll: it reports whether the loop is to
// stop, and otherwise queues the first receives of the connections added
// since, and the next poll.
func (l *eventLoop) woken() bool {
	var b [8]byte
	_, _ = unix.Read(l.wakefd, b[:])
	l.mu.Lock()
	stop := l.stop
	added := l.added
	l.added = nil
	l.mu.Unlock()
	if stop {
		return true
	}
	for _, lc := range added {
		lc.mu.Lock()
		if !lc.closed {
			for side := range 2 {
				lc.receive(side, false)
			}
		}
		lc.mu.Unlock()
	}
	l.ring.pollAdd(l.wakefd, pollIn, 0)
	return false
}

// closeAll closes the descriptors left to a stopping loop; close closes
// those of connections closed later itself.
func (l *eventLoop) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, lc := range l.closing {
		lc.shutClose() // the ring's operations hold the sockets until it is gone
	}
	l.closing = nil
	l.exited = true
}

// shutClose shuts lc's sockets down, which ends the operations in flight
// on them (a send from the connection's store fails before it reads it:
// the store may go once the sockets are shut), and closes them.
func (lc *loopConn) shutClose() {
	for _, fd := range lc.fd {
		_ = unix.Shutdown(fd, unix.SHUT_RDWR)
		unix.Close(fd)
	}
}

// complete applies a completion.
func (l *eventLoop) complete(ud uint64, res int32, flags uint32) {
	r := l.ring
	i, gen, op, side := int(ud>>11&(1<<29-1)), uint32(ud>>40), int(ud>>1&3), int(ud&1)
	// The buffer the operation holds: a receive's is in flags, a send's
	// in the user data.
	bid, hasBuf := uint16(ud>>3&0xff), op == ringSend
	if op == ringRecv {
		bid, hasBuf = uint16(flags>>cqeBufferShift), flags&cqeFBuffer != 0
	}
	l.mu.Lock()
	var lc *loopConn
	if i < len(l.slots) && l.slots[i].gen&0xffffff == gen {
		lc = l.slots[i].lc
	}
	l.mu.Unlock()
	if lc != nil {
		lc.mu.Lock()
		if !lc.closed && !lc.dirs[side].done {
			switch op {
			case ringRecv:
				if lc.received(side, res, flags, bid, hasBuf) {
					hasBuf = false // the send queued holds it
				}
			case ringSend:
				hasBuf = lc.sent(side, res)
			default:
				lc.sentCopy(side, res)
			}
		}
		lc.mu.Unlock()
	}
	if hasBuf {
		r.giveBuf(bid)
		l.feedStarved()
	}
}

// feedStarved queues a receive again for a direction whose receive found
// no buffer, now that one is back. Waiting for a buffer rather than
// retrying at once keeps a loop whose buffers all wait on slow peers from
// spinning.
func (l *eventLoop) feedStarved() {
	for len(l.starved) > 0 {
		st := l.starved[0]
		l.starved = l.starved[1:]
		lc := st.lc
		lc.mu.Lock()
		ok := !lc.closed && !lc.dirs[st.side].done
		if ok {
			lc.receive(st.side, false)
		}
		lc.mu.Unlock()
		if ok {
			return
		}
	}
}

// starvedDir is a direction waiting for a provided buffer.
type starvedDir struct {
	lc   *loopConn
	side int
}

// receive queues a receive on side; pollFirst says that no data is
// expected yet. lc.mu must be held.
func (lc *loopConn) receive(side int, pollFirst bool) {
	lc.loop.ring.recv(lc.fd[side], ringKey(lc.slot, lc.gen, ringRecv, side, 0), pollFirst)
}

// received relays what a receive on side returned: res bytes in provided
// buffer bid, the end of the stream or an error. It reports whether it
// keeps the buffer (for the send it queued). lc.mu must be held.
func (lc *loopConn) received(side int, res int32, flags uint32, bid uint16, hasBuf bool) bool {
	r, dir := lc.loop.ring, dirOf(side)
	d := &lc.dirs[side]
	if res == -int32(unix.ECANCELED) {
		// A receive linked to a send that fell short: sentCopy has
		// queued the rest and the receive again. (The kernel posts no
		// entry for it; this is in case one does.)
		return false
	}
	if d.linked {
		// The receive ran, so the copy it was linked to was all sent.
		d.pending, d.linked = nil, false
	}
	switch {
	case res == -int32(unix.ENOBUFS):
		lc.loop.starved = append(lc.loop.starved, starvedDir{lc, side})
		return false
	case res < 0:
		lc.end(side, readError(dir, os.NewSyscallError("recvfrom", unix.Errno(-res))))
		return false
	case res == 0:
		lc.end(side, readError(dir, io.EOF))
		return false
	case !hasBuf: // data without a buffer: the kernel broke its word
		lc.end(side, readError(dir, errors.New("io_uring receive returned data without a buffer")))
		return false
	}
	chunk := r.buf(bid, int(res))
	// Data left in the socket (or a full buffer) is read as soon as the
	// chunk is sent; otherwise the next receive waits for data before it
	// tries.
	d.more = flags&cqeFSockNonempty != 0 || len(chunk) == cap(chunk)
	copied := len(chunk) <= ringCopyMax
	if copied {
		if d.store == nil {
			d.store = make([]byte, ringCopyMax)
		}
		chunk = d.store[:copy(d.store, chunk)]
	}
	d.pending, d.bid = chunk, bid
	_, ok := lc.c.lendAround(dir, chunk, lc.loop.now, func() bool {
		if copied {
			lc.sendCopy(side)
		} else {
			r.send(lc.fd[1-side], chunk, ringKey(lc.slot, lc.gen, ringSend, side, bid))
		}
		return true
	})
	if !ok {
		d.pending = nil
		lc.end(side, errShutdown)
		return false
	}
	return !copied
}

// sendCopy queues the send of direction side's pending copy, linked to
// the direction's next receive, and counts it as relayed (no completion
// will say it was, unless it was not). lc.mu must be held.
func (lc *loopConn) sendCopy(side int) {
	d := &lc.dirs[side]
	d.linked = true
	lc.loop.relayed[side] += uint64(len(d.pending))
	lc.loop.ring.sendThenRecv(lc.fd[1-side], d.pending, ringKey(lc.slot, lc.gen, ringSendCopy, side, 0),
		lc.fd[side], ringKey(lc.slot, lc.gen, ringRecv, side, 0), !d.more)
}

// sentCopy applies the completion of the send of direction side's pending
// copy, which the kernel posts only when the send failed or fell short;
// either way the receive linked to it was cancelled. lc.mu must be held.
func (lc *loopConn) sentCopy(side int, res int32) {
	d := &lc.dirs[side]
	lc.loop.relayed[side] -= uint64(len(d.pending) - int(max(res, 0))) // counted by sendCopy, not sent
	if res < 0 {
		d.pending, d.linked = nil, false
		lc.end(side, sendError(side, unix.Errno(-res)))
		return
	}
	if d.pending = d.pending[res:]; len(d.pending) == 0 {
		// All sent after all: the receive linked to it is under way.
		d.pending, d.linked = nil, false
		return
	}
	lc.sendCopy(side)
}

// sent applies the completion of the send of direction side's pending
// chunk, and reports whether it let go of the chunk's buffer: when all of
// it is sent, it queues the direction's next receive. lc.mu must be held.
func (lc *loopConn) sent(side int, res int32) bool {
	d := &lc.dirs[side]
	if res < 0 {
		d.pending = nil
		lc.end(side, sendError(side, unix.Errno(-res)))
		return true
	}
	lc.loop.relayed[side] += uint64(res)
	if d.pending = d.pending[res:]; len(d.pending) > 0 {
		// A short send (a signal, say): send the rest.
		lc.loop.ring.send(lc.fd[1-side], d.pending, ringKey(lc.slot, lc.gen, ringSend, side, d.bid))
		return false
	}
	d.pending = nil
	lc.receive(side, !d.more)
	return true
}
