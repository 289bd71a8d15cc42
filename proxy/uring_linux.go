//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An io_uring instance, as much of it as the event loops use: a
// submission and a completion queue shared with the kernel, and a ring of
// provided buffers that receives pick from when data arrives, so that an
// idle connection holds no buffer. The layouts and constants are those of
// the kernel's include/uapi/linux/io_uring.h; x/sys/unix has only the
// system-call numbers.
//
// A ring is used by one thread only (IORING_SETUP_SINGLE_ISSUER): the
// loop's, which is locked to its goroutine. With IORING_SETUP_DEFER_TASKRUN
// the work of completing a receive runs when that thread asks for
// completions, in io_uring_enter, instead of interrupting it at any time.

// Setup flags, io_uring_setup(2).
const (
	setupCQSize        = 1 << 3
	setupSubmitAll     = 1 << 7
	setupSingleIssuer  = 1 << 12
	setupDeferTaskrun  = 1 << 13
	featSingleMmap     = 1 << 0
	featNoDrop         = 1 << 1
	featExtArg         = 1 << 8
	offSQRing          = 0
	offSQEs            = 0x10000000
	enterGetEvents     = 1 << 0
	enterExtArg        = 1 << 3
	registerPbufRing   = 22
	opPollAdd          = 6
	opSend             = 26
	opRecv             = 27
	sqeIOLink          = 1 << 2 // the next entry starts when this one succeeded
	sqeBufferSelect    = 1 << 5
	sqeCQESkipSuccess  = 1 << 6 // no completion entry when it succeeds
	recvPollFirst      = 1 << 0 // ioprio of a receive: wait for data before trying
	cqeFBuffer         = 1 << 0
	cqeFSockNonempty   = 1 << 2
	cqeBufferShift     = 16
	pollIn             = 0x1
	uringParamsSize    = 120
	uringSQESize       = 64
	uringCQESize       = 16
	uringBufSize       = 16
	uringBufRegSize    = 40
	uringGeteventsSize = 24
)

// uringParams is struct io_uring_params.
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
		userAddr                                                        uint64
	}
	cqOff struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
		userAddr                                                        uint64
	}
}

// uringSQE is struct io_uring_sqe, with the fields the loops set.
type uringSQE struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32 // msg_flags, poll32_events
	userData    uint64
	bufGroup    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	_           uint64
}

// uringCQE is struct io_uring_cqe.
type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// uringBuf is struct io_uring_buf; the ring's tail is the resv field of
// its first entry.
type uringBuf struct {
	addr uint64
	len  uint32
	bid  uint16
	resv uint16
}

// uringBufReg is struct io_uring_buf_reg.
type uringBufReg struct {
	ringAddr    uint64
	ringEntries uint32
	bgid        uint16
	flags       uint16
	resv        [3]uint64
}

// uringGeteventsArg is struct io_uring_getevents_arg.
type uringGeteventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWait   uint32
	ts        uint64
}

func init() {
	// The layouts above must be the kernel's to the byte.
	if unsafe.Sizeof(uringParams{}) != uringParamsSize || unsafe.Sizeof(uringSQE{}) != uringSQESize ||
		unsafe.Sizeof(uringCQE{}) != uringCQESize || unsafe.Sizeof(uringBuf{}) != uringBufSize ||
		unsafe.Sizeof(uringBufReg{}) != uringBufRegSize || unsafe.Sizeof(uringGeteventsArg{}) != uringGeteventsSize {
		panic("proxy: io_uring layouts")
	}
}

// uring is a ring and its provided buffers.
type uring struct {
	fd int

	sqHead, sqTail *uint32 // shared with the kernel
	sqMask         uint32
	sqEntries      uint32
	sqes           []uringSQE
	tail           uint32 // next SQE to fill; published to *sqTail by flushSQ

	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []uringCQE

	bufRing  []uringBuf // provided buffers, group 0
	bufTail  *uint16
	bufMask  uint16
	bufs     []byte // the buffers, bufSize each, back to back
	bufSize  int
	bufAdded uint16 // entries added since the tail was last published

	maps [][]byte // to unmap on close
}

// newURing sets up a ring with sqEntries submission entries, cqEntries
// completion entries, and nbufs provided buffers of bufSize bytes (nbufs a
// power of two). It must be called on the thread that will use the ring.
func newURing(sqEntries, cqEntries, nbufs, bufSize int) (*uring, error) {
	if nbufs <= 0 || nbufs&(nbufs-1) != 0 || nbufs > 1<<15 {
		return nil, fmt.Errorf("io_uring: %d provided buffers: not a power of two up to 32768", nbufs)
	}
	p := uringParams{
		flags:     setupCQSize | setupSubmitAll | setupSingleIssuer | setupDeferTaskrun,
		cqEntries: uint32(cqEntries),
	}
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(sqEntries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, os.NewSyscallError("io_uring_setup", e)
	}
	r := &uring{fd: int(fd)}
	fail := func(err error) (*uring, error) {
		r.close()
		return nil, err
	}
	if p.features&featSingleMmap == 0 || p.features&featNoDrop == 0 || p.features&featExtArg == 0 {
		return fail(errors.New("io_uring lacks single mmap, no-drop or extended wait arguments"))
	}
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*uringCQESize
	ringSize := max(sqSize, cqSize)
	ring, err := unix.Mmap(r.fd, offSQRing, ringSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fail(os.NewSyscallError("mmap", err))
	}
	r.maps = append(r.maps, ring)
	sqeMem, err := unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*uringSQESize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fail(os.NewSyscallError("mmap", err))
	}
	r.maps = append(r.maps, sqeMem)
	u32 := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&ring[off])) }
	r.sqHead, r.sqTail = u32(p.sqOff.head), u32(p.sqOff.tail)
	r.sqMask, r.sqEntries = *u32(p.sqOff.ringMask), p.sqEntries
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&sqeMem[0])), p.sqEntries)
	array := unsafe.Slice((*uint32)(unsafe.Pointer(&ring[p.sqOff.array])), p.sqEntries)
	for i := range array {
		array[i] = uint32(i) // entry i of the array is always SQE i
	}
	r.tail = *r.sqTail
	r.cqHead, r.cqTail = u32(p.cqOff.head), u32(p.cqOff.tail)
	r.cqMask = *u32(p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&ring[p.cqOff.cqes])), p.cqEntries)

	// The provided buffers: a ring of descriptors the kernel reads (page
	// aligned, hence mmap) and the memory they describe.
	desc, err := unix.Mmap(-1, 0, nbufs*uringBufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return fail(os.NewSyscallError("mmap", err))
	}
	r.maps = append(r.maps, desc)
	r.bufs, err = unix.Mmap(-1, 0, nbufs*bufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fail(os.NewSyscallError("mmap", err))
	}
	r.maps = append(r.maps, r.bufs)
	r.bufSize = bufSize
	r.bufRing = unsafe.Slice((*uringBuf)(unsafe.Pointer(&desc[0])), nbufs)
	r.bufTail = &r.bufRing[0].resv
	r.bufMask = uint16(nbufs - 1)
	reg := uringBufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&desc[0]))), ringEntries: uint32(nbufs)}
	if _, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerPbufRing, uintptr(unsafe.Pointer(&reg)), 1, 0, 0); e != 0 {
		return fail(os.NewSyscallError("io_uring_register", e))
	}
	for i := range nbufs {
		r.giveBuf(uint16(i))
	}
	r.publishBufs()
	return r, nil
}

// close releases the ring and its memory. In-flight operations are
// cancelled by the kernel.
func (r *uring) close() {
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
	for _, m := range r.maps {
		_ = unix.Munmap(m)
	}
	r.maps = nil
}

// buf returns the first n bytes of provided buffer bid.
func (r *uring) buf(bid uint16, n int) []byte {
	off := int(bid) * r.bufSize
	return r.bufs[off : off+n : off+r.bufSize]
}

// giveBuf returns buffer bid to the kernel; publishBufs makes it visible.
func (r *uring) giveBuf(bid uint16) {
	e := &r.bufRing[(*r.bufTail+r.bufAdded)&r.bufMask]
	e.addr = uint64(uintptr(unsafe.Pointer(&r.bufs[int(bid)*r.bufSize])))
	e.len = uint32(r.bufSize)
	e.bid = bid
	r.bufAdded++
}

// publishBufs makes the buffers given since the last call visible to the
// kernel.
func (r *uring) publishBufs() {
	if r.bufAdded == 0 {
		return
	}
	// The tail is a 16-bit field that shares a word with the first
	// descriptor's bid: publish it with a release store of that word.
	w := (*uint32)(unsafe.Pointer(&r.bufRing[0].bid))
	old := atomic.LoadUint32(w)
	tail := uint32(*r.bufTail + r.bufAdded)
	atomic.StoreUint32(w, old&0xffff|tail<<16)
	r.bufAdded = 0
}

// sqe returns the next submission entry, zeroed, submitting what is
// queued first when the queue is full.
func (r *uring) sqe() *uringSQE {
	r.room(1)
	s := &r.sqes[r.tail&r.sqMask]
	*s = uringSQE{}
	r.tail++
	return s
}

// room submits what is queued until n entries are free.
func (r *uring) room(n uint32) {
	for r.tail-atomic.LoadUint32(r.sqHead)+n > r.sqEntries {
		r.flushSQ()
		if e := r.enter(r.pending(), 0, nil); e != 0 && e != unix.EINTR && e != unix.EBUSY {
			panic(os.NewSyscallError("io_uring_enter", e))
		}
	}
}

// flushSQ publishes the entries filled since the last call.
func (r *uring) flushSQ() { atomic.StoreUint32(r.sqTail, r.tail) }

// pending is how many published entries the kernel has not consumed.
func (r *uring) pending() uint32 { return r.tail - atomic.LoadUint32(r.sqHead) }

// recv queues a receive on fd into a provided buffer.
func (r *uring) recv(fd int, userData uint64, pollFirst bool) {
	s := r.sqe()
	s.opcode = opRecv
	s.flags = sqeBufferSelect
	s.fd = int32(fd)
	s.len = uint32(r.bufSize)
	s.userData = userData
	if pollFirst {
		s.ioprio = recvPollFirst
	}
}

// send queues a send of b (which must stay put until it completes) on
// fd; MSG_WAITALL makes the kernel send all of it unless it fails.
func (r *uring) send(fd int, b []byte, userData uint64) {
	s := r.sqe()
	s.opcode = opSend
	s.fd = int32(fd)
	s.addr = uint64(uintptr(unsafe.Pointer(&b[0])))
	s.len = uint32(len(b))
	s.opFlags = unix.MSG_NOSIGNAL | unix.MSG_WAITALL
	s.userData = userData
}

// sendThenRecv queues a send of b on dst linked to a receive on src: the
// receive starts once all of b is sent. A send that succeeds posts no
// completion entry; one that fails or falls short (a signal) posts its
// own, and the receive is cancelled (its entry, if the kernel posts one,
// has -ECANCELED).
func (r *uring) sendThenRecv(dst int, b []byte, sendData uint64, src int, recvData uint64, pollFirst bool) {
	r.room(2) // a link split across two submissions would not hold
	r.send(dst, b, sendData)
	r.sqes[(r.tail-1)&r.sqMask].flags = sqeIOLink | sqeCQESkipSuccess
	r.recv(src, recvData, pollFirst)
}

// pollAdd queues a one-shot poll of fd for events.
func (r *uring) pollAdd(fd int, events uint32, userData uint64) {
	s := r.sqe()
	s.opcode = opPollAdd
	s.fd = int32(fd)
	s.opFlags = events
	s.userData = userData
}

// enter submits toSubmit entries and, when minComplete is not 0, runs the
// deferred completion work and waits until minComplete completions are
// there: up to timeout when it is not nil, holding the P (a raw system
// call), or for as long as it takes, as a blocking system call that lets
// the runtime take the P. A wait that timed out or was interrupted is
// not an error when entries were submitted: the caller looks at the
// completion queue.
func (r *uring) enter(toSubmit, minComplete uint32, timeout *unix.Timespec) unix.Errno {
	var e unix.Errno
	switch {
	case minComplete == 0:
		_, _, e = unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), 0, 0, 0, 0)
	case timeout != nil:
		arg := uringGeteventsArg{ts: uint64(uintptr(unsafe.Pointer(timeout)))}
		_, _, e = unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(minComplete),
			enterGetEvents|enterExtArg, uintptr(unsafe.Pointer(&arg)), uringGeteventsSize)
	default:
		_, _, e = unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(minComplete),
			enterGetEvents, 0, 0)
	}
	return e
}

// completions returns the completion queue's head and tail: entries
// head to tail-1 are ready; consumed(tail) hands them back.
func (r *uring) completions() (head, tail uint32) {
	return *r.cqHead, atomic.LoadUint32(r.cqTail)
}

func (r *uring) cqe(i uint32) *uringCQE { return &r.cqes[i&r.cqMask] }

func (r *uring) consumed(head uint32) { atomic.StoreUint32(r.cqHead, head) }
