package protocol

import (
	"bytes"
	"compress/zlib"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Compressed protocol.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_compression.html
// https://mariadb.com/kb/en/0-packet/#compressed-packet
//
// With CLIENT_COMPRESS (zlib) or CLIENT_ZSTD_COMPRESSION_ALGORITHM (zstd;
// zlib wins when both are negotiated), everything after the OK that ends
// authentication travels in compressed frames, both directions:
//
//	u24  compressed_length     length of body
//	u8   compressed_seq        own counter, reset at each command
//	u24  uncompressed_length   0: body is stored raw
//	     body                  else: one complete zlib stream (RFC 1950) or
//	                           zstd frame inflating to uncompressed_length
//
// The inflated bodies, concatenated, form an ordinary packet stream (framing
// as in packet.go); frame and packet boundaries are unrelated. Inner sequence
// ids are not checked: MySQL re-syncs them to the compressed counter.
//
// Decoding is on the side: the relay forwards frames untouched. A frame body
// that spans chunks is collected first (each frame is one independent
// stream), so a session briefly holds up to one 16 MiB frame per direction;
// buffers above 128 KiB are dropped after use. Inflated output goes through
// a 16 KiB buffer, whatever the frame's size. zlib uses compress/zlib; zstd
// uses github.com/klauspost/compress/zstd in synchronous streaming mode
// (concurrency 1: no goroutines), its window capped at 16 MiB.

// compressedHeaderSize is the size of a compressed frame header.
const compressedHeaderSize = 7

// inflateChunk is the size of the buffer inflated output is framed from.
const inflateChunk = 16 << 10

// inflater turns one direction's compressed frames back into the packet
// stream.
type inflater struct {
	algo    Compression
	hdr     [compressedHeaderSize]byte
	hdrN    int
	compLen int // body length of the current frame
	rawLen  int // its uncompressed length, 0 when stored raw
	body    []byte
	src     bytes.Reader
	zr      io.ReadCloser // zlib
	zd      *zstd.Decoder
	out     []byte
	// credit counts compressed bytes consumed and not yet attributed to a
	// packet: the next packet to complete takes them.
	credit int
}

// startCompression switches both directions to compressed framing. Called
// right after the OK that ends authentication has been handled.
func (s *Session) startCompression(algo Compression) {
	s.compression = algo
	for i := range s.dirs {
		s.dirs[i].inflate = &inflater{algo: algo}
	}
}

// inflate consumes compressed frames from data and feeds their contents to
// the direction's packet framer. It returns the bytes consumed.
func (s *Session) inflate(dir Direction, d *dirState, data []byte) int {
	z := d.inflate
	n := 0
	for n < len(data) && s.phase.Decoding() {
		if z.hdrN < compressedHeaderSize {
			c := copy(z.hdr[z.hdrN:], data[n:])
			z.hdrN += c
			z.credit += c
			n += c
			if z.hdrN < compressedHeaderSize {
				break
			}
			z.compLen = int(z.hdr[0]) | int(z.hdr[1])<<8 | int(z.hdr[2])<<16
			z.rawLen = int(z.hdr[4]) | int(z.hdr[5])<<8 | int(z.hdr[6])<<16
			z.body = z.body[:0]
			if z.compLen == 0 || len(data)-n >= z.compLen {
				// Whole body in this chunk: no copy.
				z.hdrN = 0
				body := data[n : n+z.compLen]
				n += z.compLen
				z.credit += z.compLen
				s.inflateFrame(dir, d, z, body)
			}
			continue
		}
		c := min(z.compLen-len(z.body), len(data)-n)
		z.body = append(z.body, data[n:n+c]...)
		z.credit += c
		n += c
		if len(z.body) == z.compLen {
			z.hdrN = 0
			s.inflateFrame(dir, d, z, z.body)
			if cap(z.body) > maxRetainedBuf {
				z.body = nil
			}
		}
	}
	return n
}

// inflateFrame decodes one frame body and frames its contents.
func (s *Session) inflateFrame(dir Direction, d *dirState, z *inflater, body []byte) {
	if z.rawLen == 0 {
		s.deframe(dir, d, body, true)
		return
	}
	z.src.Reset(body)
	var r io.Reader
	var err error
	switch z.algo {
	case CompressionZstd:
		if z.zd == nil {
			z.zd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(MaxPacketPayload+1), zstd.WithDecoderMaxMemory(MaxPacketPayload+1))
		}
		if err == nil {
			err = z.zd.Reset(&z.src)
		}
		r = z.zd
	default:
		if z.zr == nil {
			z.zr, err = zlib.NewReader(&z.src)
		} else {
			err = z.zr.(zlib.Resetter).Reset(&z.src, nil)
		}
		r = z.zr
	}
	if err != nil {
		s.desync(dir, nil, "compressed frame", 0, "bad "+z.algo.String()+" header: "+err.Error())
		return
	}
	if z.out == nil {
		z.out = make([]byte, inflateChunk)
	}
	total := 0
	for s.phase.Decoding() {
		k, err := r.Read(z.out)
		if k > 0 {
			total += k
			if total > z.rawLen {
				s.desync(dir, nil, "compressed frame", 0, "inflates beyond its uncompressed length")
				return
			}
			s.deframe(dir, d, z.out[:k], true)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			s.desync(dir, nil, "compressed frame", 0, "bad "+z.algo.String()+" stream: "+err.Error())
			return
		}
	}
	if total != z.rawLen && s.phase.Decoding() {
		s.desync(dir, nil, "compressed frame", 0, "inflates short of its uncompressed length")
	}
}

// close releases the zstd decoder.
func (z *inflater) close() {
	if z.zd != nil {
		z.zd.Close()
		z.zd = nil
	}
}
