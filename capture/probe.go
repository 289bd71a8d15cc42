package capture

import (
	"github.com/querylens/querylens/protocol"
)

// Finding a command boundary in a stream joined mid-way, and inferring the
// capabilities that shape the wire from the first packets after it.

// maxPayload is the largest physical packet payload (2^24 − 1).
const maxPayload = 0xFFFFFF

// chunkKind classifies the first client segment of a possible command.
type chunkKind uint8

const (
	chunkOther      chunkKind = iota // not a command start we trust
	chunkCommand                     // whole plain packets with sequence id 0, each a known command
	chunkCompressed                  // one whole compressed frame holding a command
	chunkTLS                         // TLS records
)

// knownCommand reports whether b is a command byte a client sends in the
// command phase.
func knownCommand(b byte) bool {
	c := protocol.Command(b)
	switch {
	case c == protocol.ComStmtBulkExecute:
		return true
	case c == protocol.ComSleep, c == protocol.ComConnect, c == protocol.ComTime,
		c == protocol.ComDelayedInsert, c == protocol.ComConnectOut, c == protocol.ComDaemon:
		return false
	}
	return c <= protocol.ComSubscribeGRS
}

// u24 reads a little-endian 24-bit integer.
func u24(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }

// plainCommands reports whether b is made of whole packets, each with
// sequence id 0 and a known command byte: one command, or commands a
// client pipelined in one write.
func plainCommands(b []byte) bool {
	if len(b) < 5 {
		return false
	}
	for len(b) > 0 {
		if len(b) < 5 {
			return false
		}
		n := u24(b)
		if n == 0 || n >= maxPayload || b[3] != 0 || 4+n > len(b) || !knownCommand(b[4]) {
			return false
		}
		if protocol.Command(b[4]) == protocol.ComQuery && n < 2 {
			return false
		}
		b = b[4+n:]
	}
	return true
}

// partialCommands reports whether b could be the start of whole client
// packets that continue in the next segment: packets as plainCommands
// wants, the last one cut short, or the start of one compressed frame.
func partialCommands(b []byte) bool {
	if len(b) >= 7 && b[3] == 0 && 7+u24(b) > len(b) && u24(b[4:]) < maxPayload+1 {
		return true // possibly a compressed frame
	}
	for len(b) >= 5 {
		n := u24(b)
		if n == 0 || n >= maxPayload || b[3] != 0 || !knownCommand(b[4]) {
			return false
		}
		if 4+n > len(b) {
			return true
		}
		b = b[4+n:]
	}
	return false
}

// classifyChunk tells what the client bytes b, one or a few segments,
// start with.
func classifyChunk(b []byte) (chunkKind, protocol.Compression) {
	if isTLSRecord(b) {
		return chunkTLS, protocol.CompressionNone
	}
	if plainCommands(b) {
		return chunkCommand, protocol.CompressionNone
	}
	// u24 compressed length, u8 compressed seq (0 at a command), u24
	// uncompressed length (0: stored), body.
	if len(b) < 7+5 || b[3] != 0 || 7+u24(b) != len(b) {
		return chunkOther, protocol.CompressionNone
	}
	body, raw := b[7:], u24(b[4:])
	switch {
	case raw == 0:
		if plainCommands(body) {
			return chunkCompressed, protocol.CompressionZlib // stored frames read the same under zstd
		}
	case len(body) >= 2 && body[0]&0x0F == 8 && (int(body[0])<<8|int(body[1]))%31 == 0:
		return chunkCompressed, protocol.CompressionZlib // RFC 1950 header
	case len(body) >= 4 && body[0] == 0x28 && body[1] == 0xB5 && body[2] == 0x2F && body[3] == 0xFD:
		return chunkCompressed, protocol.CompressionZstd
	}
	return chunkOther, protocol.CompressionNone
}

// isTLSRecord reports whether b starts with a TLS record header whose
// length fits the segment: content type 20..23, version 3.x.
func isTLSRecord(b []byte) bool {
	if len(b) < 5 || b[0] < 20 || b[0] > 23 || b[1] != 3 || b[2] > 4 {
		return false
	}
	n := int(b[3])<<8 | int(b[4])
	return n > 0 && 5+n <= len(b)
}

// packetWalker frames a packet stream chunk by chunk and reports each
// packet's sequence id, length and first bytes.
type packetWalker struct {
	hdr    [4]byte
	hn     int
	remain int
	length int
	seq    uint8
	head   [4]byte
	headN  int
}

// walk consumes b and calls fn for every packet that completes.
func (w *packetWalker) walk(b []byte, fn func(seq uint8, length int, head []byte)) {
	for len(b) > 0 {
		if w.hn < 4 {
			c := copy(w.hdr[w.hn:], b)
			w.hn += c
			b = b[c:]
			if w.hn < 4 {
				return
			}
			w.length, w.remain, w.seq, w.headN = u24(w.hdr[:]), u24(w.hdr[:]), w.hdr[3], 0
		}
		if w.headN < len(w.head) && w.remain > 0 {
			c := copy(w.head[w.headN:min(len(w.head), w.headN+w.remain)], b)
			w.headN += c
		}
		c := min(w.remain, len(b))
		w.remain -= c
		b = b[c:]
		if w.remain == 0 {
			w.hn = 0
			fn(w.seq, w.length, w.head[:w.headN])
		}
	}
}

// probe infers, from the first packets of a connection joined mid-stream,
// three capabilities that shape the wire: CLIENT_DEPRECATE_EOF,
// CLIENT_QUERY_ATTRIBUTES, and a metadata_follows byte after column counts
// (MariaDB's CACHE_METADATA, MySQL's OPTIONAL_RESULTSET_METADATA).
type probe struct {
	client, server packetWalker

	eofDecided  bool
	deprecate   bool
	metaDecided bool
	metaFlag    bool
	qaDecided   bool
	queryAttrs  bool
	afterDef    bool // the previous server packet was a column definition
	atStart     bool // the next server packet starts a response
}

// done reports whether the result-set questions are answered.
func (p *probe) done() bool { return p.eofDecided && p.metaDecided }

// feed looks at one chunk of the connection.
func (p *probe) feed(dir protocol.Direction, b []byte) {
	if dir == protocol.FromClient {
		p.client.walk(b, func(seq uint8, length int, head []byte) {
			if seq != 0 || len(head) == 0 {
				return
			}
			p.atStart = true
			if p.qaDecided || protocol.Command(head[0]) != protocol.ComQuery {
				return
			}
			// Under QUERY_ATTRIBUTES a COM_QUERY without attributes starts
			// 03 00 01 (parameter_count 0, parameter_set_count 1); no SQL
			// text starts with a NUL byte.
			p.qaDecided = true
			p.queryAttrs = len(head) >= 3 && head[1] == 0 && head[2] == 1
		})
		return
	}
	p.server.walk(b, func(_ uint8, length int, head []byte) {
		if p.atStart {
			p.atStart = false
			p.responseStart(length, head)
		}
		isDef := len(head) == 4 && head[0] == 3 && head[1] == 'd' && head[2] == 'e' && head[3] == 'f'
		if p.afterDef && !isDef && !p.eofDecided {
			switch {
			case len(head) > 0 && head[0] == 0xFF: // ERR: no answer yet
			case len(head) > 0 && head[0] == 0xFE && length < maxPayload:
				// After column definitions: an EOF (5 bytes) without
				// DEPRECATE_EOF, an OK ending an empty result (7 bytes or
				// more) with it.
				p.eofDecided, p.deprecate = true, length >= 7
			default:
				p.eofDecided, p.deprecate = true, true // a row right after the definitions
			}
		}
		p.afterDef = isDef
	})
}

// responseStart looks at the first packet of a response: a column count
// followed by one more byte carries the metadata_follows flag.
func (p *probe) responseStart(length int, head []byte) {
	if p.metaDecided || len(head) == 0 {
		return
	}
	var size int
	switch b := head[0]; {
	case b == 0x00 || b == 0xFF || b == 0xFE || b == 0xFB:
		return // OK, ERR, EOF, LOCAL INFILE: no column count
	case b < 0xFB:
		size = 1
	case b == 0xFC:
		size = 3
	case b == 0xFD:
		size = 4
	}
	switch length {
	case size:
		p.metaDecided, p.metaFlag = true, false
	case size + 1:
		p.metaDecided, p.metaFlag = true, true
	}
}

// assumedCaps are the capabilities assumed for a connection joined
// mid-stream: those every current client and server negotiate.
const assumedCaps = protocol.CapLongPassword | protocol.CapFoundRows | protocol.CapLongFlag |
	protocol.CapProtocol41 | protocol.CapTransactions | protocol.CapSecureConnection |
	protocol.CapMultiResults | protocol.CapPSMultiResults | protocol.CapPluginAuth |
	protocol.CapPluginAuthLenenc | protocol.CapSessionTrack

// caps returns the capabilities the probe settled on (defaults for what it
// could not tell: DEPRECATE_EOF on, QUERY_ATTRIBUTES and the metadata flag
// off). The metadata flag is expressed as CapMariaDBCacheMetadata, which
// changes result sets only, the way both servers' flags do.
func (p *probe) caps() protocol.CapabilityFlag {
	c := assumedCaps
	if !p.eofDecided || p.deprecate {
		c |= protocol.CapDeprecateEOF
	}
	if p.queryAttrs {
		c |= protocol.CapQueryAttributes
	}
	if p.metaFlag {
		c |= protocol.CapMariaDBCacheMetadata
	}
	return c
}
