package protocol

import (
	"time"
	"unsafe"
)

// Hooks for the external tests: they expose internals without widening the
// package's API.

// Footprint returns the bytes a session retains: framer and inflater
// buffers, the command queue and the statement table's SQL.
func (s *Session) Footprint() int {
	n := 0
	for i := range s.dirs {
		d := &s.dirs[i]
		n += cap(d.fr.buf)
		if z := d.inflate; z != nil {
			n += cap(z.body) + cap(z.out)
		}
	}
	n += cap(s.q) * int(unsafe.Sizeof(command{}))
	n += s.pendingReq + cap(s.params.arena) + cap(s.params.spans)*int(unsafe.Sizeof(paramSpan{}))
	return n + s.stmts.bytes
}

// TestFramer drives a framer alone.
type TestFramer struct{ f framer }

// NewTestFramer returns a framer copying at most limit bytes per packet.
func NewTestFramer(limit int) *TestFramer {
	t := &TestFramer{}
	t.f.limits = [2]int{limit, limit}
	return t
}

// Advance is framer.advance.
func (t *TestFramer) Advance(data []byte) (int, bool) { return t.f.advance(data, time.Time{}) }

// Packet returns the packet completed by the last Advance.
func (t *TestFramer) Packet() (seq uint8, length int, payload []byte, wire int) {
	p := &t.f.pkt
	return p.seq, p.length, p.payload, p.wire
}

// BufCap returns the capacity of the framer's copy buffer.
func (t *TestFramer) BufCap() int { return cap(t.f.buf) }

// AtBoundary reports whether no packet is partly read.
func (t *TestFramer) AtBoundary() bool { return t.f.hdrN == 0 && !t.f.cont && t.f.remain == 0 }

// DecodeParams runs the parameter decoder alone on an EXECUTE (or, with
// bulk, a BULK_EXECUTE) payload, for a statement with numParams
// placeholders whose remembered types are types (nil: none) and whose
// parameters in long are fed by SEND_LONG_DATA. It returns the event and
// the types remembered afterwards.
func DecodeParams(payload []byte, bulk bool, numParams uint16, types []uint16, long []uint64,
	qa, mariaDB bool, maxParamBytes int) (*Event, []uint16) {
	d := paramDecoder{maxBytes: maxParamBytes, mariaDB: mariaDB}
	if d.maxBytes <= 0 {
		d.maxBytes = defaultMaxParamBytes
	}
	st := &stmtInfo{params: numParams, types: types, long: long}
	for i := range st.long {
		if st.long[i] != 0 {
			st.long[i] |= longDataSet
		}
	}
	ev := &Event{Command: ComStmtExecute}
	if bulk {
		ev.Command = ComStmtBulkExecute
		d.bulk(ev, payload, len(payload), st)
	} else {
		d.execute(ev, payload, len(payload), st, qa)
	}
	return ev, st.types
}
