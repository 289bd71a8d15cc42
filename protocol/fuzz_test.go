package protocol_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/querylens/querylens/protocol"
)

// Fuzz targets. Their seeds are the captures in testdata/frames (those under
// 256 KiB) plus hand-made packets, so every `go test` runs them once;
// `go test -fuzz FuzzX` explores further. Crashers are committed under
// testdata/fuzz/FuzzX.

const maxSeedCapture = 256 << 10

// seedCaptures returns the committed captures small enough to seed fuzzing.
func seedCaptures(f *testing.F) []*capture {
	paths, err := filepath.Glob(filepath.Join("testdata", "frames", "*.hex"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no captures: %v", err)
	}
	var out []*capture
	for _, p := range paths {
		c, err := readCapture(p)
		if err != nil {
			f.Fatal(err)
		}
		if in, o := c.totals(); in+o <= maxSeedCapture {
			out = append(out, c)
		}
	}
	return out
}

// encodeChunks serializes chunks as fuzz input: for each chunk, u8 direction,
// u16 length, bytes.
func encodeChunks(chunks []chunk) []byte {
	var b []byte
	for _, ch := range chunks {
		data := ch.Data
		for len(data) > 0 {
			n := min(len(data), 0xFFFF)
			b = append(b, byte(ch.Dir))
			b = binary.LittleEndian.AppendUint16(b, uint16(n))
			b = append(b, data[:n]...)
			data = data[n:]
		}
	}
	return b
}

// feedEncoded feeds fuzz input encoded by encodeChunks (any bytes decode to
// something) and checks the session's invariants after each chunk.
func feedEncoded(t *testing.T, s *protocol.Session, in []byte) {
	now := base
	total := len(in)
	for len(in) > 0 {
		dir := protocol.Direction(in[0] & 1)
		n := 0
		if len(in) >= 3 {
			n = int(binary.LittleEndian.Uint16(in[1:]))
			in = in[3:]
		} else {
			in = in[1:]
		}
		n = min(n, len(in))
		now = now.Add(time.Millisecond)
		s.Feed(dir, in[:n], now)
		in = in[n:]
		checkBounded(t, s, total)
	}
}

// checkBounded asserts that a session's retained memory stays within its
// fixed limits plus what the input itself could make it hold.
func checkBounded(t *testing.T, s *protocol.Session, inputLen int) {
	const fixed = 1 << 20 // framer buffers (2 × (64 KiB + 4 KiB) at most, doubled by append), inflater buffers
	if fp := s.Footprint(); fp > fixed+16*inputLen {
		t.Fatalf("session retains %d bytes for %d bytes of input", fp, inputLen)
	}
	if s.InFlight() < 0 {
		t.Fatalf("negative in-flight count")
	}
}

// FuzzSession feeds arbitrary interleavings of both directions.
func FuzzSession(f *testing.F) {
	for _, c := range seedCaptures(f) {
		f.Add(encodeChunks(c.Chunks))
	}
	// A MySQL login negotiating zstd, then one compressed command.
	caps := mysqlCaps &^ (protocol.CapCompress | protocol.CapSSL)
	f.Add(encodeChunks([]chunk{
		{Dir: protocol.FromServer, Data: packet(0, greetingPayload("8.4.3", caps, "caching_sha2_password"))},
		{Dir: protocol.FromClient, Data: packet(1, append(responsePayload(caps, "app", "", "caching_sha2_password"), 3))},
		{Dir: protocol.FromServer, Data: packet(2, okPayload(0, 0, 0, 2, 0))},
		{Dir: protocol.FromClient, Data: zstdFrame(f, 0, packet(0, []byte("\x03\x00\x01SELECT 1")))},
		{Dir: protocol.FromServer, Data: zstdFrame(f, 0, cat(packet(1, []byte{1}), packet(2, colDef("1")),
			packet(3, []byte{1, '1'}), packet(4, okPayload(0xFE, 0, 0, 2, 0))))},
	}))
	f.Fuzz(func(t *testing.T, in []byte) {
		var evs int
		s := protocol.NewSession(protocol.SessionConfig{MaxSQLBytes: 1 << 10, Handler: func(e *protocol.Event) {
			evs++
			if e == nil || len(e.SQL) > 1<<10 {
				t.Fatalf("bad event %+v", e)
			}
		}})
		feedEncoded(t, s, in)
		s.Close(base.Add(time.Hour))
		if s.InFlight() != 0 {
			t.Fatalf("in flight after Close: %d", s.InFlight())
		}
		s.Feed(protocol.FromClient, in, base)
		s.Feed(protocol.FromServer, in, base)
	})
}

// FuzzHandshake fuzzes the connection phase: a greeting, a client response
// and a server reply, each framed as a packet, then optional further bytes.
func FuzzHandshake(f *testing.F) {
	for _, c := range seedCaptures(f) {
		var parts [][]byte
		for _, ch := range c.Chunks {
			if len(parts) == 3 {
				break
			}
			if len(ch.Data) > 4 {
				parts = append(parts, ch.Data[4:]) // strip the (first) header
			}
		}
		if len(parts) == 3 {
			f.Add(parts[0], parts[1], parts[2], []byte{})
		}
	}
	f.Add(greetingPayload("8.4.3", mysqlCaps, "caching_sha2_password"),
		responsePayload(mysqlCaps, "app", "db", "caching_sha2_password"), []byte{1, 4}, packet(3, []byte{2}))
	f.Add(greetingPayload("8.4.3", mysqlCaps, ""), responsePayload(mysqlCaps, "", "", "")[:32], []byte{}, []byte{0x16, 3, 1})
	f.Add(greetingPayload("5.5.5-10.11.9-MariaDB", mariaDBCaps, "mysql_native_password"),
		responsePayload(mariaDBCaps, "app", "db", "mysql_native_password"),
		append([]byte{0xFE}, "client_ed25519\x00nonce"...), packet(3, bytes.Repeat([]byte{7}, 64)))
	f.Fuzz(func(t *testing.T, greeting, response, reply, rest []byte) {
		s := protocol.NewSession(protocol.SessionConfig{Handler: func(*protocol.Event) {}})
		s.Feed(protocol.FromServer, packet(0, greeting), base)
		s.Feed(protocol.FromClient, packet(1, response), base)
		s.Feed(protocol.FromServer, packet(2, reply), base)
		s.Feed(protocol.FromClient, rest, base)
		s.Feed(protocol.FromServer, rest, base)
		checkBounded(t, s, len(greeting)+len(response)+len(reply)+len(rest))
		info := s.Info()
		if len(info.Attrs) > 32 || len(info.AuthPlugin) > 64 {
			t.Fatalf("unbounded connection info: %d attrs, plugin %d bytes", len(info.Attrs), len(info.AuthPlugin))
		}
		s.Close(base)
	})
}

// FuzzResponses fuzzes the server's answer to each kind of command, after a
// MariaDB or MySQL login (with or without DEPRECATE_EOF).
func FuzzResponses(f *testing.F) {
	rs := cat(packet(1, []byte{1}), packet(2, colDef("a")), packet(3, []byte{1, 'x'}), packet(4, okPayload(0xFE, 0, 0, 2, 0)))
	f.Add(uint8(0), []byte("SELECT 1"), rs)
	f.Add(uint8(1), []byte("SELECT 1"), cat(packet(1, []byte{1}), packet(2, colDef("a")), packet(3, eofPayload(0, 2)),
		packet(4, []byte{1, 'x'}), packet(5, eofPayload(0, 2))))
	f.Add(uint8(0), []byte("LOAD DATA"), cat(packet(1, []byte("\xFBf")), packet(4, okPayload(0, 3, 0, 2, 0))))
	f.Add(uint8(0x16<<2), []byte("SELECT ?"), cat(packet(1, prepareOK(1, 1, 1)), packet(2, colDef("?")), packet(3, colDef("a"))))
	f.Add(uint8(0x17<<2), []byte{1, 0, 0, 0, 1, 1, 0, 0, 0}, cat(packet(1, []byte{1, 0}), packet(2, okPayload(0xFE, 0, 0, 0x42, 0))))
	f.Add(uint8(0x1C<<2), []byte{1, 0, 0, 0, 2, 0, 0, 0}, cat(packet(1, []byte{0, 0, 1}), packet(2, okPayload(0xFE, 0, 0, 0x82, 0))))
	f.Add(uint8(0x11<<2), []byte("bob\x00\x00db\x00"), cat(packet(1, append([]byte{0xFE}, "mysql_native_password\x00"...)), packet(3, okPayload(0, 0, 0, 2, 0))))
	f.Add(uint8(0x09<<2), []byte{}, packet(1, []byte("Uptime: 1")))
	f.Add(uint8(0x04<<2), []byte("t\x00"), cat(packet(1, colDef("a")), packet(2, eofPayload(0, 2))))
	f.Add(uint8(0x12<<2), []byte{4, 0, 0, 0}, packet(1, []byte{0, 1, 2}))
	f.Add(uint8(0), []byte("SELECT a"), cat(packet(1, []byte{1}), packet(2, colDef("a")), packet(3, []byte{1, 'x'}),
		packet(4, nil), packet(5, errPayload(1317, "70100", "Query execution was interrupted"))))
	f.Add(uint8(2), []byte{0, 1, 'S'}, cat(packet(1, []byte{1, 0}), packet(2, []byte{1, 'x'}), packet(3, okPayload(0xFE, 0, 0, 2, 0))))
	f.Fuzz(func(t *testing.T, mode uint8, request, response []byte) {
		// The response is fed split in two, so a chunk boundary moves
		// around, and then again one byte at a time, where no packet sits
		// whole in a chunk: the events must be the same.
		cut := 0
		if len(response) > 0 {
			cut = int(response[0]) % (len(response) + 1)
		}
		twoChunks := responseEvents(t, mode, request, response[:cut], response[cut:])
		var bytewise [][]byte
		for i := range response {
			bytewise = append(bytewise, response[i:i+1])
		}
		if got := responseEvents(t, mode, request, bytewise...); !slices.Equal(got, twoChunks) {
			t.Fatalf("fed byte by byte:\n%q\nin two chunks:\n%q", got, twoChunks)
		}
	})
}

// responseEvents logs in as FuzzResponses's mode says, sends request as a
// command, feeds the chunks of its response and closes the session. It
// returns the events and the decode error, formatted.
func responseEvents(t *testing.T, mode uint8, request []byte, chunks ...[]byte) []string {
	var out []string
	handler := func(e *protocol.Event) {
		if e.Command != protocol.ComConnect {
			out = append(out, fmt.Sprintf("%s in=%d out=%d incomplete=%v", formatEvent(e), e.BytesIn, e.BytesOut, e.Incomplete))
		}
	}
	f := &feeder{t: t, now: base, s: protocol.NewSession(protocol.SessionConfig{Handler: handler})}
	switch mode & 3 {
	case 0, 3:
		f.loginMariaDB()
	case 1:
		caps := mariaDBCaps &^ (protocol.CapDeprecateEOF | protocol.CapMariaDBCacheMetadata)
		f.login(caps, caps, "5.5.5-10.11.9-MariaDB")
	case 2:
		f.loginMySQL()
	}
	s := f.s
	cmd := mode >> 2
	if cmd == 0 {
		cmd = byte(protocol.ComQuery)
	}
	s.Feed(protocol.FromClient, packet(0, append([]byte{cmd}, request...)), base)
	total := len(request)
	for _, c := range chunks {
		s.Feed(protocol.FromServer, c, base)
		total += len(c)
	}
	checkBounded(t, s, total)
	err := s.Err()
	s.Close(base)
	return append(out, fmt.Sprint("error: ", err))
}

// FuzzFraming checks the streaming framer against a whole-buffer reference:
// the same packets (sequence id, length, wire size, payload prefix) whatever
// the chunking, and a bounded buffer.
func FuzzFraming(f *testing.F) {
	for _, c := range seedCaptures(f) {
		var client []byte
		for _, ch := range c.Chunks {
			if ch.Dir == protocol.FromClient {
				client = append(client, ch.Data...)
			}
		}
		f.Add(client, uint16(100), uint64(1))
	}
	f.Add(cat(packet(0, nil), packet(1, []byte("abc")), packet(7, bytes.Repeat([]byte{1}, 300))), uint16(10), uint64(3))
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0, 1, 2}, uint16(0), uint64(0))
	f.Fuzz(func(t *testing.T, stream []byte, limit uint16, seed uint64) {
		type pkt struct {
			seq     byte
			length  int
			wire    int
			payload string // prefix of at most limit bytes
		}
		lim := int(limit)
		// Reference: frame the whole stream at once.
		var want []pkt
		for rest := stream; ; {
			var p pkt
			var body []byte
			complete := false
			r := rest
			first := true
			for len(r) >= 4 {
				n := int(r[0]) | int(r[1])<<8 | int(r[2])<<16
				if first {
					p.seq = r[3]
					first = false
				}
				if len(r) < 4+n {
					break
				}
				body = append(body, r[4:4+n]...)
				p.wire += 4 + n
				r = r[4+n:]
				if n < protocol.MaxPacketPayload {
					complete = true
					break
				}
			}
			if !complete {
				break
			}
			p.length = len(body)
			p.payload = string(body[:min(lim, len(body))])
			want = append(want, p)
			rest = r
		}
		// Streaming, in chunks sized by seed.
		fr := protocol.NewTestFramer(lim)
		var got []pkt
		data := stream
		for len(data) > 0 {
			n := 1 + int(seed%17)
			seed = seed*6364136223846793005 + 1442695040888963407
			chunk := data[:min(n, len(data))]
			data = data[len(chunk):]
			for len(chunk) > 0 {
				c, done := fr.Advance(chunk)
				if c == 0 && !done {
					t.Fatal("no progress")
				}
				chunk = chunk[c:]
				if !done {
					continue
				}
				seq, length, payload, wire := fr.Packet()
				if len(payload) > length || len(payload) < min(lim, length) {
					t.Fatalf("payload prefix of %d bytes for a %d-byte packet with limit %d", len(payload), length, lim)
				}
				got = append(got, pkt{seq: seq, length: length, wire: wire, payload: string(payload[:min(lim, len(payload))])})
			}
			if fr.BufCap() > 2*lim+64 {
				t.Fatalf("buffer capacity %d for limit %d", fr.BufCap(), lim)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("got %d packets, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("packet %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}

// BenchmarkFraming frames a stream of 1,000 small packets fed in 16 KiB
// chunks (so some packets straddle chunk boundaries and are copied).
func BenchmarkFraming(b *testing.B) {
	var stream []byte
	for i := range 1000 {
		stream = append(stream, packet(byte(i), bytes.Repeat([]byte{'r'}, 20+i%200))...)
	}
	fr := protocol.NewTestFramer(4 << 10)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		data := stream
		for len(data) > 0 {
			chunk := data[:min(16<<10, len(data))]
			data = data[len(chunk):]
			for len(chunk) > 0 {
				c, _ := fr.Advance(chunk)
				chunk = chunk[c:]
			}
		}
	}
}

// FuzzExecuteParams fuzzes the parameter decoder alone: an EXECUTE (or
// BULK_EXECUTE) payload for a statement with numParams placeholders whose
// remembered types are typesRaw (pairs of type and flag bytes; none when
// empty). mode picks BULK (bit 0), QUERY_ATTRIBUTES (bit 1), MariaDB's
// reading of values (bit 2), long data for the first parameter (bit 3) and
// the value cap (the high bits).
func FuzzExecuteParams(f *testing.F) {
	for _, c := range seedCaptures(f) {
		for _, s := range executeSeeds(c) {
			f.Add(s.payload, s.numParams, s.types, s.mode)
		}
	}
	// MySQL 8 with query attributes: two placeholders, two attributes.
	f.Add(execPayload(1, 0x08, []bind{{typ: protocol.TypeLong, val: le32(1)}, {typ: protocol.TypeVarString, val: lenencBytes("x")},
		{typ: protocol.TypeVarString, name: "traceparent", val: lenencBytes("00-abc")}, {typ: protocol.TypeNull, name: "z", null: true}},
		true, true), uint16(2), []byte{}, uint8(2))
	f.Add(execPayload(1, 0, []bind{{typ: protocol.TypeDatetime, val: dateBytes(13, 2025, 1, 2, 3, 4, 5, 6, -60)},
		{typ: protocol.TypeTime, val: timeBytes(12, true, 1, 2, 3, 4, 5)}, {typ: protocol.TypeYear, val: lenencBytes("2025")}},
		false, false), uint16(3), []byte{0x0C, 0, 0x0B, 0, 0x0D, 0}, uint8(0))
	f.Add(cat(stmtCmd(protocol.ComStmtBulkExecute, 1, 0x80, 0, 0x03, 0x80, 0xFD, 0), []byte{0}, le32(1), []byte{2, 1, 3}),
		uint16(2), []byte{}, uint8(1|4))
	f.Fuzz(func(t *testing.T, payload []byte, numParams uint16, typesRaw []byte, mode uint8) {
		var types []uint16
		for i := 0; i+1 < len(typesRaw); i += 2 {
			types = append(types, uint16(typesRaw[i])|uint16(typesRaw[i+1])<<8)
		}
		var long []uint64
		if mode&8 != 0 && numParams > 0 {
			long = []uint64{uint64(len(payload))}
		}
		maxBytes := 1 + int(mode>>4)*20
		bulk := mode&1 != 0
		ev, _ := protocol.DecodeParams(payload, bulk, numParams, types, long, mode&2 != 0, mode&4 != 0, maxBytes)
		if ev.ParamCount != int(numParams) {
			t.Fatalf("ParamCount %d, want %d", ev.ParamCount, numParams)
		}
		keep := min(int(numParams), 64)
		if bulk {
			keep = min(4*int(numParams), 64)
		}
		if len(ev.Params) > keep || len(ev.QueryAttributes) > 16 {
			t.Fatalf("%d params, %d attributes kept", len(ev.Params), len(ev.QueryAttributes))
		}
		if !bulk && !ev.ParamsUndecodable && len(ev.Params) != keep && len(payload) > 10 {
			t.Fatalf("decodable, but %d params of %d", len(ev.Params), keep)
		}
		if bulk && !ev.ParamsUndecodable && len(ev.Params) != min(keep, ev.BulkRows*int(numParams)) {
			t.Fatalf("decodable, but %d params for %d sets", len(ev.Params), ev.BulkRows)
		}
		for i, p := range ev.Params {
			// Values are cut to maxBytes; temporal values that make no
			// calendar date are written out in full, at most 43 bytes
			// ("65535-255-255 255:255:255.4294967295-546:08", MySQL's
			// UTC offset being an i16 of minutes).
			if s, ok := p.Value.(string); ok && len(s) > max(maxBytes, 43) {
				t.Fatalf("param %d: %d bytes kept, cap %d", i, len(s), maxBytes)
			}
			if s, ok := p.Value.(string); ok && p.Truncated != (len(s) < p.Length) {
				t.Fatalf("param %d: %d of %d bytes kept, truncated %v", i, len(s), p.Length, p.Truncated)
			}
			if lit := p.String(); !utf8.ValidString(lit) {
				t.Fatalf("param %d: literal %q is not UTF-8", i, lit)
			}
		}
	})
}

// executeSeed is one EXECUTE or BULK_EXECUTE of a capture, with what the
// session knew of its statement.
type executeSeed struct {
	payload   []byte
	numParams uint16
	types     []byte
	mode      uint8
}

// executeSeeds pairs the EXECUTE and BULK_EXECUTE packets of a capture's
// client stream with their events (both in FIFO order).
func executeSeeds(c *capture) []executeSeed {
	evs, s := replay(c, protocol.SessionConfig{}, nil, true)
	if s.Info().Compression != protocol.CompressionNone {
		return nil
	}
	var execs []*protocol.Event
	for _, e := range evs {
		if e.Command == protocol.ComStmtExecute || e.Command == protocol.ComStmtBulkExecute {
			execs = append(execs, e)
		}
	}
	fr := protocol.NewTestFramer(1 << 20)
	var out []executeSeed
	for _, ch := range c.Chunks {
		if ch.Dir != protocol.FromClient {
			continue
		}
		for data := ch.Data; len(data) > 0 && len(out) < len(execs); {
			n, done := fr.Advance(data)
			data = data[n:]
			if !done {
				continue
			}
			seq, length, payload, _ := fr.Packet()
			if seq != 0 || length == 0 || len(payload) < length ||
				(payload[0] != byte(protocol.ComStmtExecute) && payload[0] != byte(protocol.ComStmtBulkExecute)) {
				continue
			}
			e := execs[len(out)]
			sd := executeSeed{payload: bytes.Clone(payload), numParams: uint16(e.ParamCount)}
			if e.Command == protocol.ComStmtBulkExecute {
				sd.mode |= 1
			}
			if s.Info().Flavor == protocol.FlavorMariaDB {
				sd.mode |= 4
			}
			sd.mode |= 12 << 4 // a cap of 241 bytes
			for _, p := range e.Params[:min(len(e.Params), e.ParamCount)] {
				flag := byte(0)
				if p.Unsigned {
					flag = 0x80
				}
				sd.types = append(sd.types, byte(p.Type), flag)
			}
			out = append(out, sd)
		}
	}
	return out
}
