package protocol

import "time"

// Packet framing.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html
// https://mariadb.com/kb/en/0-packet/
//
//	u24  payload_length
//	u8   sequence_id
//	     payload        [payload_length bytes]
//
// A physical payload of exactly 0xFFFFFF bytes means "the logical packet
// continues in the next physical packet"; the sequence ends with a shorter
// physical packet, which is empty when the logical length is a multiple of
// 0xFFFFFF. Each physical packet consumes one sequence id. Genuinely empty
// logical packets (no 0xFFFFFF predecessor) exist and matter: the end of a
// LOCAL INFILE upload, an empty auth response.

// packetHeaderSize is the size of a physical packet header.
const packetHeaderSize = 4

// packet is one reassembled logical packet as the framer hands it over.
// payload is only valid until the framer is advanced again: it aliases either
// the chunk being fed (when the whole payload sat in it) or the framer's own
// buffer.
type packet struct {
	seq     uint8     // sequence id of the first physical packet
	lastSeq uint8     // sequence id of the last physical packet
	length  int       // full logical payload length
	payload []byte    // prefix of the logical payload: len(payload) <= length
	wire    int       // bytes on the wire, headers included
	start   time.Time // time of the Feed holding the first header byte
	offset  int64     // stream offset of the first header byte
}

// truncated reports whether payload is only a prefix of the logical payload.
func (p *packet) truncated() bool { return len(p.payload) < p.length }

// first returns the first payload byte, or -1 for an empty packet.
func (p *packet) first() int {
	if len(p.payload) == 0 {
		return -1
	}
	return int(p.payload[0])
}

// framer reassembles the logical packets of one direction from chunks of any
// size. It copies at most limit bytes of a logical payload, and only when the
// payload does not sit whole in one chunk; the buffer it copies into is
// reused, so steady-state framing allocates nothing.
type framer struct {
	hdr     [packetHeaderSize]byte
	hdrN    int  // header bytes collected
	physLen int  // payload length of the current physical packet
	remain  int  // payload bytes of the current physical packet still to come
	cont    bool // the current logical packet continues past a 0xFFFFFF packet
	// limits[0] caps the copy of a logical packet whose first sequence id is
	// 0 (a command), limits[1] of any other; the session sets them between
	// packets. The limit is fixed when the first header is complete.
	limits [2]int
	limit  int
	buf    []byte
	pkt    packet
	offset int64 // bytes consumed so far
}

// maxRetainedBuf is the largest buffer a framer keeps between packets; a
// bigger one (a long SQL statement with a large MaxSQLBytes) is dropped once
// its packet is handled.
const maxRetainedBuf = 128 << 10

// advance consumes data until a logical packet completes, returning the
// number of bytes consumed and whether f.pkt now holds a complete packet.
// Bytes after the packet are left for the next call.
func (f *framer) advance(data []byte, now time.Time) (int, bool) {
	n, done := f.step(data, now)
	f.offset += int64(n)
	return n, done
}

func (f *framer) step(data []byte, now time.Time) (int, bool) {
	n := 0
	for n < len(data) {
		if f.hdrN < packetHeaderSize {
			if f.hdrN == 0 && !f.cont {
				// A new logical packet starts with this byte.
				if cap(f.buf) > maxRetainedBuf {
					f.buf = nil
				}
				f.buf = f.buf[:0]
				f.pkt = packet{start: now, offset: f.offset + int64(n)}
			}
			c := copy(f.hdr[f.hdrN:], data[n:])
			f.hdrN += c
			n += c
			if f.hdrN < packetHeaderSize {
				return n, false
			}
			f.physLen = int(f.hdr[0]) | int(f.hdr[1])<<8 | int(f.hdr[2])<<16
			seq := f.hdr[3]
			if !f.cont {
				f.pkt.seq = seq
				f.limit = f.limits[0]
				if seq != 0 {
					f.limit = f.limits[1]
				}
			}
			f.pkt.lastSeq = seq
			f.pkt.wire += packetHeaderSize
			f.remain = f.physLen
			if f.remain == 0 {
				if f.endPhysical() {
					return n, true
				}
				continue
			}
			// Fast path: a single-packet payload entirely in this chunk is
			// handed over without copying.
			if !f.cont && f.physLen < MaxPacketPayload && len(data)-n >= f.physLen {
				f.pkt.payload = data[n : n+f.physLen : n+f.physLen]
				f.pkt.length = f.physLen
				f.pkt.wire += f.physLen
				n += f.physLen
				f.hdrN, f.remain = 0, 0
				return n, true
			}
			continue
		}
		c := min(f.remain, len(data)-n)
		if keep := f.limit - len(f.buf); keep > 0 {
			f.buf = append(f.buf, data[n:n+min(c, keep)]...)
		}
		f.pkt.length += c
		f.pkt.wire += c
		f.remain -= c
		n += c
		if f.remain == 0 && f.endPhysical() {
			return n, true
		}
	}
	return n, false
}

// atBoundary reports whether the next byte starts a logical packet.
func (f *framer) atBoundary() bool { return f.hdrN == 0 && !f.cont && f.remain == 0 }

// endPhysical finishes a physical packet and reports whether it also
// finished the logical packet.
func (f *framer) endPhysical() bool {
	f.hdrN = 0
	if f.physLen == MaxPacketPayload {
		f.cont = true
		return false
	}
	f.cont = false
	f.pkt.payload = f.buf
	return true
}

// wipe zeroes the copied payload bytes; used after packets that carry
// credentials.
func (f *framer) wipe() { clear(f.buf[:cap(f.buf)]) }

// release drops the buffer.
func (f *framer) release() { f.buf = nil }

// AppendErrPacket appends a complete ERR packet — 4-byte header and payload —
// with the given sequence id to dst, for the proxy to answer a client itself
// (for example when the upstream is unreachable).
//
//	u8        0xFF
//	u16       error_code
//	u8        '#'            only when sqlState is not empty
//	bytes[5]  sql_state      padded with '0' or cut to 5 bytes
//	str<EOF>  error_message  cut so the payload stays below 16 MiB
//
// Before the client has sent its HandshakeResponse (seq 0, in place of the
// greeting) pass an empty sqlState: servers omit the marker there because the
// client's CLIENT_PROTOCOL_41 is not known yet.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_err_packet.html
func AppendErrPacket(dst []byte, seq uint8, code uint16, sqlState, message string) []byte {
	size := 3
	if sqlState != "" {
		size += 6
	}
	if len(message) > MaxPacketPayload-1-size {
		message = message[:MaxPacketPayload-1-size]
	}
	size += len(message)
	dst = appendU24(dst, uint32(size))
	dst = append(dst, seq, headerErr)
	dst = appendU16(dst, code)
	if sqlState != "" {
		dst = append(dst, '#')
		for i := range 5 {
			c := byte('0')
			if i < len(sqlState) {
				c = sqlState[i]
			}
			dst = append(dst, c)
		}
	}
	return append(dst, message...)
}

// AppendGreeting appends a HandshakeV10 packet (seq 0) announcing version,
// connection id, a 20-byte scramble and mysql_native_password, with
// PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH(_LENENC_CLIENT_DATA),
// CONNECT_WITH_DB, CONNECT_ATTRS and TRANSACTIONS. The proxy uses it to talk
// to a client itself when there is no server to relay: the client answers
// with a HandshakeResponse, after which an ERR packet with a SQLSTATE
// (seq 2) is understood by every client library, unlike an ERR in place of
// the greeting, which libmariadb rejects as malformed.
//
// Layout: https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_v10.html
func AppendGreeting(dst []byte, version string, connID uint32, scramble [20]byte) []byte {
	caps := CapLongPassword | CapConnectWithDB | CapProtocol41 | CapTransactions |
		CapSecureConnection | CapPluginAuth | CapConnectAttrs | CapPluginAuthLenenc
	const plugin = "mysql_native_password"
	size := 1 + len(version) + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 13 + len(plugin) + 1
	dst = appendU24(dst, uint32(size))
	dst = append(dst, 0)                           // [1] sequence id
	dst = append(dst, 10)                          // [1] protocol version
	dst = append(append(dst, version...), 0)       // [NUL] server version
	dst = appendU32(dst, connID)                   // [4] connection id
	dst = append(dst, scramble[:8]...)             // [8] auth-plugin-data-part-1
	dst = append(dst, 0)                           // [1] filler
	dst = appendU16(dst, uint16(caps))             // [2] capability flags, lower
	dst = append(dst, 45)                          // [1] utf8mb4_general_ci
	dst = appendU16(dst, uint16(StatusAutocommit)) // [2] status flags
	dst = appendU16(dst, uint16(caps>>16))         // [2] capability flags, upper
	dst = append(dst, 21)                          // [1] auth-plugin-data length
	dst = append(dst, make([]byte, 10)...)         // [10] reserved
	dst = append(dst, scramble[8:]...)             // [12] auth-plugin-data-part-2
	dst = append(dst, 0)                           // [1] its NUL
	return append(append(dst, plugin...), 0)       // [NUL] auth plugin name
}
