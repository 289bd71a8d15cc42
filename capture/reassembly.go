package capture

import (
	"slices"
	"time"
)

// stream reassembles one direction of a TCP connection. It delivers bytes
// in sequence order exactly once, and holds copies of out-of-order segments
// within a byte budget. Sequence numbers compare modulo 2^32 (RFC 793 §3.3).
type stream struct {
	next    uint32 // sequence number of the next byte to deliver
	init    bool   // next is known
	fin     bool   // a FIN was delivered (next counts it)
	pending []segment
	held    int // bytes in pending
}

// segment is an out-of-order segment waiting for the bytes before it.
type segment struct {
	seq  uint32
	data []byte // owned copy
	at   time.Time
	fin  bool
}

// seqDiff returns a − b as a signed distance in sequence space.
func seqDiff(a, b uint32) int32 { return int32(a - b) }

// segmentResult says what happened to a segment.
type segmentResult uint8

const (
	segDelivered  segmentResult = iota // bytes (or nothing) delivered in order
	segRetransmit                      // every byte had been delivered before
	segHeld                            // held until the bytes before it arrive
	segOverBudget                      // could not be held: a gap
)

// add takes a segment's payload (data is only read during the call) and
// calls deliver for every run of bytes that becomes contiguous. A FIN
// marks the end of the direction once every byte before it is in.
func (s *stream) add(seq uint32, data []byte, fin bool, at time.Time, budget int, deliver func([]byte, time.Time)) segmentResult {
	if !s.init {
		s.next, s.init = seq, true
	}
	d := seqDiff(seq, s.next)
	if d > 0 {
		if len(data) == 0 && !fin {
			return segDelivered // a bare ACK ahead of a hole carries nothing
		}
		if s.held+len(data) > budget {
			return segOverBudget
		}
		s.hold(segment{seq: seq, data: slices.Clone(data), at: at, fin: fin})
		return segHeld
	}
	if d < 0 {
		over := int(-int64(d)) // -d overflows for math.MinInt32
		if over >= len(data) {
			switch {
			case fin && over == len(data) && !s.fin:
				s.next++
				s.fin = true
				s.drain(deliver)
				return segDelivered
			case len(data) == 0:
				return segDelivered // keep-alive or a bare ACK
			}
			return segRetransmit
		}
		data = data[over:]
	}
	if len(data) > 0 {
		deliver(data, at)
		s.next += uint32(len(data))
	}
	if fin && !s.fin {
		s.next++
		s.fin = true
	}
	s.drain(deliver)
	return segDelivered
}

// hold inserts seg into pending, kept in sequence order.
func (s *stream) hold(seg segment) {
	i, _ := slices.BinarySearchFunc(s.pending, seg.seq, func(p segment, seq uint32) int {
		return int(seqDiff(p.seq, seq))
	})
	s.pending = slices.Insert(s.pending, i, seg)
	s.held += len(seg.data)
}

// drain delivers the held segments that have become contiguous.
func (s *stream) drain(deliver func([]byte, time.Time)) {
	for len(s.pending) > 0 {
		p := s.pending[0]
		d := seqDiff(p.seq, s.next)
		if d > 0 {
			return
		}
		s.pending[0] = segment{}
		s.pending = s.pending[1:]
		s.held -= len(p.data)
		if over := int(-int64(d)); over < len(p.data) {
			data := p.data[over:]
			deliver(data, p.at)
			s.next += uint32(len(data))
		}
		if p.fin && !s.fin && seqDiff(p.seq+uint32(len(p.data)), s.next) == 0 {
			s.next++
			s.fin = true
		}
	}
	if len(s.pending) == 0 {
		s.pending = nil
	}
}

// hole reports whether bytes are missing: segments wait for bytes before
// them.
func (s *stream) hole() bool { return len(s.pending) > 0 }

// missing reports whether ack, an acknowledgement number sent by the peer,
// covers bytes this stream has not delivered: the peer received bytes the
// capture did not see.
func (s *stream) missing(ack uint32) bool {
	return s.init && seqDiff(ack, s.next) > 0
}

// reset forgets the stream's position and held segments after a gap: the
// next segment starts it again.
func (s *stream) reset() {
	*s = stream{}
}
