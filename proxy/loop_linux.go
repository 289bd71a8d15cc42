//go:build linux

package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/querylens/querylens/protocol"
)

// The event loops relay plain (non-TLS) connections once the login is
// through, the way a C relay does: a few goroutines, each with its own
// epoll set, read whatever socket is ready, write the chunk to the other
// socket and hand it to the session's decoder (conn.lendAround says in
// which order).
// Pumps cost a goroutine wake-up per chunk and per connection; a loop is
// woken once for every connection that became ready meanwhile, and waits
// in the kernel rather than in Go's scheduler while it is busy (see run).
// Where the kernel allows it a loop uses an io_uring instead of its epoll
// set (loop_uring_linux.go); what follows is the epoll loop.
//
// Sockets are registered edge-triggered for reading, writing and peer
// shutdown, once. Each side remembers what the kernel last said: canRead
// from an EPOLLIN edge until a read comes back short (the socket is then
// drained, so there is no second read to see EAGAIN), canWrite until a
// write says EAGAIN, hup from EPOLLRDHUP/HUP/ERR, after which reads go
// on until EOF or the error. A chunk the other side cannot take at once is
// kept (one chunk per direction at most) and the source is not read again
// until it is written: a slow reader pushes back on the sender through TCP,
// as with the pumps.
//
// A loop works on one connection at a time under that connection's lock;
// closeNow takes the same lock to take the sockets out of the loop and
// close them, and reports every direction that had not ended yet.

// loopBudget is how many chunks a loop reads for one connection before it
// turns to the others; a connection with more to read is visited again
// after the next epoll_wait, which then does not block.
const loopBudget = 16

// side indexes a loopConn's sockets and directions: direction i reads
// side i and writes side 1-i.
const (
	sideClient   = 0
	sideUpstream = 1
)

// loopSlot holds a registered connection. The epoll data of its sockets
// is key(slot index, gen, side); gen changes when the slot is freed, so
// that an event read before a close cannot reach the slot's next tenant.
type loopSlot struct {
	lc  *loopConn
	gen uint32
}

// key returns the epoll data of side of the connection in slot i: never 0,
// which is the wake fd's.
func key(i int, gen uint32, side int) uint64 {
	return uint64(gen)<<32 | uint64(i)<<1 | uint64(side)
}

// eventLoop is one epoll set and the goroutine that waits on it.
type eventLoop struct {
	epfd   int
	wakefd int // eventfd: a write wakes the loop to stop
	buf    []byte
	found  []*loopConn // connections handle left with more to read

	// Bytes relayed from each side since they were last added to the
	// metrics. Touched by the loop alone, and published when it yields or
	// is about to wait: the counters the metrics share between loops were
	// an atomic add on a contended cache line per write (1 % of the
	// relay's CPU at 32 client threads).
	metrics *Metrics
	relayed [2]uint64

	// now is when the loop's last wait returned: the time of every chunk
	// it reads before it waits again. One clock read per batch of events
	// instead of one per chunk (a time.Now is two clock reads, 1 % of the
	// relay's CPU at 32 client threads); a chunk is stamped with when the
	// loop learnt it was there, not when it got to read it.
	now time.Time

	// ring, when set, replaces the epoll set (see runRing); starved are
	// the directions waiting for one of its buffers.
	ring    *uring
	starved []starvedDir

	mu      sync.Mutex
	slots   []loopSlot  // registered connections, by slot index
	free    []int       // free slot indexes
	added   []*loopConn // with a ring: connections to start receiving on
	closing []*loopConn // with a ring: connections whose sockets the loop is to close
	stop    bool
	exited  bool // with a ring: the loop returned (and closed its wake fd)
}

// loopPool is a Server's event loops, started on first use.
type loopPool struct {
	once     sync.Once
	stopOnce sync.Once
	err      error
	loops    []*eventLoop
	next     int
	mu       sync.Mutex
	wg       sync.WaitGroup
}

type fdState struct {
	canRead, canWrite, hup bool
}

type loopDir struct {
	pending []byte // read, not yet written (a window into store, or with a ring into buffer bid)
	store   []byte // what pending is copied to (with a ring: chunks up to ringCopyMax, until the sockets are shut down)
	done    bool   // ended and reported
	bid     uint16 // with a ring: the provided buffer pending is in
	more    bool   // with a ring: the socket had more to read
	linked  bool   // with a ring: pending is a copy in store whose send is linked to the next receive
}

// loopConn is a connection relayed by an event loop.
type loopConn struct {
	c    *conn
	loop *eventLoop
	errc chan<- error

	mu     sync.Mutex // held by the loop while it works on the connection
	fd     [2]int
	slot   int    // index in loop.slots
	gen    uint32 // the slot's generation
	state  [2]fdState
	dirs   [2]loopDir
	closed bool
	hot    bool // on the loop's list of connections with work left
}

func dirOf(side int) protocol.Direction {
	if side == sideClient {
		return protocol.FromClient
	}
	return protocol.FromServer
}

// start creates the pool's loops: cfg.EventLoops of them, or one per P
// when that is 0 (as a C relay runs a thread per CPU). It adds a P for
// each (see run). Each loop uses an io_uring unless cfg.Epoll says not to
// or the kernel does not offer one (see newURing), and its epoll set
// otherwise.
func (p *loopPool) start(cfg Config, m *Metrics, log *zap.Logger) error {
	n, bufSize := cfg.EventLoops, cfg.BufferSize
	p.once.Do(func() {
		if n <= 0 {
			n = runtime.GOMAXPROCS(0)
		}
		for range n {
			l, err := newEventLoop(bufSize, m)
			if err != nil {
				p.err = err
				break
			}
			p.loops = append(p.loops, l)
		}
		addProcs(len(p.loops))
		ready := make(chan error, len(p.loops))
		for _, l := range p.loops {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				// A loop keeps its thread. Unlocked, a busy loop's
				// goroutine ran on two threads in turn, which the kernel
				// moved between CPUs on more than half of their wake-ups
				// (50,000 moves in 8 s of one sysbench client, against 9
				// locked), and a query cost 20 % more CPU; see
				// docs/performance.md.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var err error
				if !cfg.Epoll {
					// On this thread: the ring accepts submissions from
					// the thread that made it only.
					l.ring, err = newURing(ringEntries, ringCQEntries, ringBufCount, bufSize)
				}
				ready <- err
				if l.ring != nil {
					l.runRing()
					return
				}
				l.run()
			}()
		}
		rings := 0
		var ringErr error
		for range p.loops {
			if err := <-ready; err != nil {
				ringErr = err
			} else if !cfg.Epoll {
				rings++
			}
		}
		switch {
		case cfg.Epoll:
			log.Info("event loops wait with epoll", zap.Int("loops", len(p.loops)))
		case rings == len(p.loops):
			log.Info("event loops relay through io_uring", zap.Int("loops", len(p.loops)))
		default:
			log.Info("io_uring not usable (a seccomp profile or sysctl kernel.io_uring_disabled may forbid it, or the kernel is older than 6.1); event loops wait with epoll instead",
				zap.Int("loops", len(p.loops)), zap.Int("io_uring_loops", rings), zap.Error(ringErr))
		}
	})
	return p.err
}

// stopAll stops the loops and waits for them. The pool cannot be used
// afterwards.
func (p *loopPool) stopAll() {
	p.once.Do(func() {}) // a pool never started stays unstarted
	for _, l := range p.loops {
		l.mu.Lock()
		l.stop = true
		l.mu.Unlock()
		l.wake()
	}
	p.wg.Wait()
	p.stopOnce.Do(func() { addProcs(-len(p.loops)) })
}

// procsMu serializes the pools' changes to GOMAXPROCS; procsAdded is
// what they added, over all pools.
var (
	procsMu    sync.Mutex
	procsAdded atomic.Int64
)

// canHoldP reports whether a loop may keep its P while it waits: whether
// GOMAXPROCS still leaves a P to the rest of the program beside every
// loop's.
func canHoldP() bool {
	return int64(runtime.GOMAXPROCS(0)) > procsAdded.Load()
}

// addProcs changes GOMAXPROCS by n. A busy loop keeps its P while it waits
// in epoll_wait, so each loop comes with a P of its own and the rest of the
// program keeps the Ps it had.
func addProcs(n int) {
	if n == 0 {
		return
	}
	procsMu.Lock()
	defer procsMu.Unlock()
	runtime.GOMAXPROCS(max(1, runtime.GOMAXPROCS(0)+n))
	procsAdded.Add(int64(n))
}

func newEventLoop(bufSize int, m *Metrics) (*eventLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN} // data 0: the wake fd
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &eventLoop{epfd: epfd, wakefd: wakefd, buf: make([]byte, bufSize), metrics: m}, nil
}

// publish adds the bytes relayed since the last call to the metrics.
func (l *eventLoop) publish() {
	for side, n := range l.relayed {
		if n > 0 {
			l.metrics.relayedBytes(dirOf(side)).Add(float64(n))
			l.relayed[side] = 0
		}
	}
}

// attach moves c's sockets to an event loop and returns the loopConn, or
// nil when c must be relayed by pumps (TLS on a leg, a socket type the
// loops do not take, or no loop could be started). On success c's
// net.Conns are closed: the loop owns duplicates of their descriptors.
func (p *loopPool) attach(c *conn, errc chan<- error) *loopConn {
	if c.client != c.rawClient || c.upstream != c.rawUp {
		return nil // TLS
	}
	if !loopable(c.rawClient) || !loopable(c.rawUp) {
		return nil
	}
	if err := p.start(c.srv.cfg, c.srv.metrics, c.srv.log); err != nil || len(p.loops) == 0 {
		return nil
	}
	var fds [2]int
	for i, nc := range []net.Conn{c.rawClient, c.rawUp} {
		fd, err := dupConn(nc)
		if err != nil {
			if i == 1 {
				unix.Close(fds[0])
			}
			c.log.Debug("event loop not used", zap.Error(err))
			return nil
		}
		fds[i] = fd
	}
	p.mu.Lock()
	l := p.loops[p.next%len(p.loops)]
	p.next++
	p.mu.Unlock()
	// Both sockets are taken as writable, and readable in case bytes came
	// in after the login: the first read or write says otherwise.
	lc := &loopConn{c: c, loop: l, errc: errc, fd: fds,
		state: [2]fdState{{canRead: true, canWrite: true}, {canRead: true, canWrite: true}}}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if err := l.add(lc); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		c.log.Debug("event loop not used", zap.Error(err))
		return nil
	}
	// Counted while lc.mu is held, before the loop can relay a byte: a
	// client that reads the metric once its first answer arrived sees it.
	c.srv.metrics.relayLoop.Inc()
	// The duplicates keep the sockets open; the originals leave Go's
	// poller, which would otherwise be woken by the same readiness.
	c.rawClient.Close()
	c.rawUp.Close()
	return lc
}

func loopable(nc net.Conn) bool {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// dupConn duplicates nc's descriptor (close-on-exec; the duplicate shares
// the original's non-blocking mode).
func dupConn(nc net.Conn) (int, error) {
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl", derr)
	}
	return fd, nil
}

// add registers lc's sockets. lc.mu must be held.
func (l *eventLoop) add(lc *loopConn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop {
		return errors.New("event loop stopped")
	}
	i := len(l.slots)
	if n := len(l.free); n > 0 {
		i, l.free = l.free[n-1], l.free[:n-1]
	} else {
		l.slots = append(l.slots, loopSlot{gen: 1})
	}
	if l.ring != nil {
		lc.slot, lc.gen = i, l.slots[i].gen
		l.slots[i].lc = lc
		l.added = append(l.added, lc)
		l.wake()
		return nil
	}
	for side := range 2 {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET}
		k := key(i, l.slots[i].gen, side)
		ev.Fd, ev.Pad = int32(uint32(k)), int32(uint32(k>>32))
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, lc.fd[side], &ev); err != nil {
			if side == 1 {
				_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, lc.fd[0], nil)
			}
			l.release(i)
			return os.NewSyscallError("epoll_ctl", err)
		}
	}
	lc.slot = i
	l.slots[i].lc = lc
	return nil
}

// release frees slot i. l.mu must be held.
func (l *eventLoop) release(i int) {
	sl := &l.slots[i]
	sl.lc = nil
	if sl.gen++; sl.gen == 0 {
		sl.gen = 1
	}
	l.free = append(l.free, i)
}

// lookup returns the connection and side an epoll data names, or nil when
// its connection closed since the event was read.
func (l *eventLoop) lookup(k uint64) (*loopConn, int) {
	i, gen := int(uint32(k)>>1), uint32(k>>32)
	l.mu.Lock()
	defer l.mu.Unlock()
	if i < len(l.slots) && l.slots[i].gen == gen {
		return l.slots[i].lc, int(k & 1)
	}
	return nil, 0
}

func keyOf(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// run waits on the loop's epoll set and relays what it reports, until
// stopAll wakes it to stop.
//
// While its connections are busy a loop waits the way a C relay does: in
// epoll_wait as a raw system call, keeping its P (the pool added one for
// it), so that a wake-up is the kernel's alone. Waiting in Go's poller
// instead costs every hop a pass through the scheduler and often the
// wake-up of a second thread looking for work, each a context switch
// that a small machine feels in its QPS. After busyWait without an event
// the loop waits as an ordinary (blocking) system call, which lets the
// runtime take the P back: an idle loop holds no P and wakes nobody.
//
// A loop holds its P only while the pool's Ps are there (canHoldP): when
// GOMAXPROCS was lowered since (testing.AllocsPerRun sets it to 1), a loop
// blocked with the only P would stop every other goroutine, so it waits
// as a blocking system call all the time.
//
// A loop holding its P still lets the runtime stop it: the runtime asks
// a running goroutine to stop (for a garbage collection, say) with a
// signal, which ends epoll_wait with EINTR, and the loop then yields; it
// also yields every yieldEvery, before the runtime's monitor would
// preempt it as a goroutine that ran too long (and then poll quickly for
// a while).
func (l *eventLoop) run() {
	defer unix.Close(l.epfd)
	defer unix.Close(l.wakefd)
	events := make([]unix.EpollEvent, 128)
	var hot, next []*loopConn
	lastYield := time.Now()
	hold := canHoldP()
	for {
		var n int
		var errno unix.Errno
		switch {
		case len(hot) > 0: // connections with more to read are waiting
			n, errno = epollWait(l.epfd, events, 0)
		case hold:
			n, errno = epollWait(l.epfd, events, int(busyWait/time.Millisecond))
			if n == 0 && errno == 0 {
				l.publish()
				n, errno = epollWaitIdle(l.epfd, events)
			}
		default:
			l.publish()
			n, errno = epollWaitIdle(l.epfd, events)
		}
		switch {
		case errno == unix.EINTR:
			runtime.Gosched()
			lastYield = time.Now()
			hold = canHoldP()
			continue
		case errno != 0:
			// Only a programming error (EBADF, EINVAL) gets here.
			panic(os.NewSyscallError("epoll_pwait", errno))
		}
		now := time.Now()
		l.now = now
		if l.handle(events[:n]) {
			l.publish()
			return
		}
		for _, lc := range hot {
			lc.mu.Lock()
			lc.hot = false
			if !lc.closed && lc.progress(l.buf) {
				lc.hot = true
				next = append(next, lc)
			}
			lc.mu.Unlock()
		}
		clear(hot)
		hot, next = next, hot[:0]
		hot = append(hot, l.found...)
		clear(l.found)
		l.found = l.found[:0]
		if now.Sub(lastYield) >= yieldEvery {
			l.publish()
			runtime.Gosched()
			lastYield = now
			hold = canHoldP()
		}
	}
}

const (
	// busyWait is how long a loop waits for an event holding its P.
	busyWait = 4 * time.Millisecond
	// yieldEvery is how often a busy loop yields its P: just under the
	// 10 ms after which the runtime's monitor preempts a goroutine (and
	// then polls every 20 us for a while). A locked loop's yield is dear:
	// its thread hands the P to another, which finds the goroutine and
	// hands it back, three wake-ups; at every 4 ms the yields were 4 % of
	// the relay's CPU at 32 client threads (see docs/performance.md).
	yieldEvery = 9 * time.Millisecond
)

// epollWait is epoll_wait as a raw system call: the P stays with the
// caller. It must not be inlined: its prologue is where a goroutine
// interrupted by a preemption signal stops.
//
//go:noinline
func epollWait(epfd int, events []unix.EpollEvent, msec int) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// epollWaitIdle is epoll_wait without a timeout, as a blocking system
// call: the runtime takes the P while it waits.
func epollWaitIdle(epfd int, events []unix.EpollEvent) (int, unix.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), ^uintptr(0), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// sysRead and sysWrite are recv(2) and send(2) on a non-blocking socket.
// They return at once, so they are raw system calls, without the runtime's
// bookkeeping for calls that may block. recv and send rather than read and
// write: the socket calls skip the file layer's work (position lock,
// permission hook, fsnotify) that read and write do on every call, and
// MSG_NOSIGNAL makes a send to a closed peer an EPIPE without a SIGPIPE.
func sysRead(fd int, b []byte) (int, unix.Errno) {
	return rawIO(unix.SYS_RECVFROM, fd, b, 0)
}

func sysWrite(fd int, b []byte) (int, unix.Errno) {
	return rawIO(unix.SYS_SENDTO, fd, b, unix.MSG_NOSIGNAL)
}

func rawIO(trap uintptr, fd int, b []byte, flags uintptr) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), flags, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// handle applies a batch of events and reports whether the loop is to
// stop. Connections with more to read go to l.found.
func (l *eventLoop) handle(events []unix.EpollEvent) bool {
	for i := range events {
		ev := &events[i]
		key := keyOf(ev)
		if key == 0 {
			var b [8]byte
			_, _ = unix.Read(l.wakefd, b[:])
			l.mu.Lock()
			stop := l.stop
			l.mu.Unlock()
			if stop {
				return true
			}
			continue
		}
		lc, side := l.lookup(key)
		if lc == nil {
			continue // closed since this batch was read
		}
		lc.mu.Lock()
		if !lc.closed {
			st := &lc.state[side]
			if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				st.hup, st.canRead, st.canWrite = true, true, true
			}
			if ev.Events&unix.EPOLLIN != 0 {
				st.canRead = true
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				st.canWrite = true
			}
			if !lc.hot && lc.progress(l.buf) {
				lc.hot = true
				l.found = append(l.found, lc)
			}
		}
		lc.mu.Unlock()
	}
	return false
}

// progress moves bytes in both directions as far as the sockets allow and
// the budget goes. It reports whether there is more to read right away.
// lc.mu must be held.
func (lc *loopConn) progress(buf []byte) bool {
	budget := loopBudget
	more := false
	for side := range 2 {
		if lc.pump(side, buf, &budget) {
			more = true
		}
	}
	return more
}

// pump relays direction side (read side, write 1-side). It reports whether
// it stopped with data left to read because the budget ran out. Each chunk
// is written and decoded in the order conn.lendAround gives; a chunk read
// once Shutdown decided to close the connection is not written.
func (lc *loopConn) pump(side int, buf []byte, budget *int) bool {
	d := &lc.dirs[side]
	src := &lc.state[side]
	dir := dirOf(side)
	for !d.done && !lc.closed {
		if !lc.flush(side) {
			return false
		}
		if !src.canRead {
			return false
		}
		if *budget <= 0 {
			return true
		}
		*budget--
		n, errno := sysRead(lc.fd[side], buf)
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN:
			src.canRead = false
			return false
		case errno != 0:
			lc.end(side, readError(dir, os.NewSyscallError("recvfrom", errno)))
			return false
		case n == 0:
			lc.end(side, readError(dir, io.EOF))
			return false
		}
		if n < len(buf) && !src.hup {
			src.canRead = false // drained: wait for the next edge
		}
		chunk := buf[:n]
		d.pending = chunk
		sent, ok := lc.c.lendAround(dir, chunk, lc.loop.now, func() bool { return lc.flush(side) })
		if !ok {
			d.pending = nil
			lc.end(side, errShutdown)
			return false
		}
		if !sent {
			// The peer is full: keep the rest, as buf is the loop's.
			if len(d.pending) > 0 {
				if d.store == nil {
					d.store = make([]byte, len(buf))
				}
				d.pending = d.store[:copy(d.store, d.pending)]
			}
			return false
		}
	}
	return false
}

// flush writes what direction side has pending to the peer. It reports
// whether all of it is written: false means the peer is full (its next
// EPOLLOUT edge resumes) or the direction ended.
func (lc *loopConn) flush(side int) bool {
	d, dst := &lc.dirs[side], &lc.state[1-side]
	for len(d.pending) > 0 {
		if !dst.canWrite {
			return false
		}
		n, errno := sysWrite(lc.fd[1-side], d.pending)
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN:
			dst.canWrite = false
			return false
		case errno != 0:
			lc.end(side, sendError(side, errno))
			return false
		}
		lc.loop.relayed[side] += uint64(n)
		d.pending = d.pending[n:]
	}
	return true
}

// sendError is the error direction side ends with when sending to its
// destination failed with errno.
func sendError(side int, errno unix.Errno) error {
	return &relayError{side: peerName(dirOf(side)), op: "write", err: os.NewSyscallError("sendto", errno)}
}

// end ends direction side with err and reports it to the connection's
// serve goroutine. lc.mu must be held.
func (lc *loopConn) end(side int, err error) {
	d := &lc.dirs[side]
	if d.done {
		return
	}
	d.done = true
	d.pending = nil
	if lc.loop.ring == nil {
		// With a ring, a send from store may be in flight until the loop
		// shuts the sockets down: store goes with the connection.
		d.store = nil
	}
	lc.errc <- err // buffered for both directions
}

// closeWrite half-closes the upstream socket, as closeWrite does for a
// net.Conn: the server sees EOF and finishes what it sends.
func (lc *loopConn) closeWrite() {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if !lc.closed {
		_ = unix.Shutdown(lc.fd[sideUpstream], unix.SHUT_WR)
	}
}

// close takes the sockets out of the loop, closes them and ends the
// directions still running with net.ErrClosed.
func (lc *loopConn) close() {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.closed {
		return
	}
	lc.closed = true
	l := lc.loop
	l.mu.Lock()
	if l.ring != nil {
		// The loop shuts the sockets down and closes them (see runRing)
		// once the sends queued before are submitted: a reply the
		// decoder has seen end (after which Shutdown closes an idle
		// connection) reaches the client first.
		if l.exited {
			lc.shutClose()
		} else {
			l.closing = append(l.closing, lc)
			l.wake()
		}
	} else {
		for side := range 2 {
			_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, lc.fd[side], nil)
			unix.Close(lc.fd[side])
		}
	}
	l.release(lc.slot)
	l.mu.Unlock()
	for side := range 2 {
		lc.end(side, readError(dirOf(side), net.ErrClosed))
	}
}

// wake wakes the loop from its wait.
func (l *eventLoop) wake() {
	var one [8]byte
	one[0] = 1
	_, _ = unix.Write(l.wakefd, one[:])
}
