package capture_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/capture"
	"github.com/querylens/querylens/protocol"
)

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// TestRecordedCaptures analyses the captures of real MariaDB sessions in
// testdata (see TestRecordTestdata for the workloads behind them).
func TestRecordedCaptures(t *testing.T) {
	for _, tc := range []struct {
		file     string
		stats    capture.Stats // the counts compared
		commands map[string]int
		rows     int // rows of all events
		errors   int
	}{{
		file:  "session.pcap",
		stats: capture.Stats{Flows: 2, MySQLConns: 2},
		commands: map[string]int{"connect": 2, "query": sessionInserts + sessionSelects + sessionErrors,
			"stmt_prepare": sessionPrepared, "stmt_execute": sessionPrepared, "stmt_close": sessionPrepared, "quit": 2},
		rows:   6 + 5 + 4 + 3 + 2 + sessionPrepared,
		errors: sessionErrors,
	}, {
		file:     "compressed.pcap",
		stats:    capture.Stats{Flows: 1, MySQLConns: 1},
		commands: map[string]int{"connect": 1, "query": sessionInserts + sessionSelects + sessionErrors, "quit": 1},
		rows:     6 + 5 + 4 + 3 + 2,
		errors:   sessionErrors,
	}, {
		file:  "midstream.pcap",
		stats: capture.Stats{Flows: 2, MySQLConns: 2, Midstream: 2},
		commands: map[string]int{"query": 2 * midAfter,
			"stmt_prepare": midAfter, "stmt_execute": midAfter, "stmt_close": midAfter},
		// 1 row per lookup by id and by name, and the rows after id i of
		// the six rows 0..5 for i < midAfter.
		rows: midAfter + midAfter + 5 + 4 + 3 + 2,
	}} {
		t.Run(tc.file, func(t *testing.T) {
			r := analyze(t, mustRead(t, "testdata/"+tc.file), capture.Config{})
			require.NoError(t, r.err)
			got := capture.Stats{Flows: r.stats.Flows, MySQLConns: r.stats.MySQLConns, Midstream: r.stats.Midstream,
				TLSConns: r.stats.TLSConns, Gaps: r.stats.Gaps, Desyncs: r.stats.Desyncs}
			assert.Equal(t, tc.stats, got)
			assert.Equal(t, tc.commands, countCommands(r.events))
			rows, errs := 0, 0
			for _, e := range r.events {
				assert.NotContains(t, e, "inc=true")
				var n int
				if i := strings.Index(e, " rows="); i >= 0 {
					_, _ = fmt.Sscan(e[i+len(" rows="):], &n)
				}
				rows += n
				if !strings.Contains(e, " err=0 ") {
					errs++
				}
			}
			assert.Equal(t, tc.rows, rows)
			assert.Equal(t, tc.errors, errs)
			assert.Equal(t, uint64(len(r.events)), r.stats.Events)
			assert.False(t, r.stats.First.IsZero())
			assert.True(t, !r.stats.Last.Before(r.stats.First))
		})
	}
}

// TestSessionAttributes checks what a session decoded from its handshake
// knows, and what a session joined mid-stream does not.
func TestSessionAttributes(t *testing.T) {
	r := analyze(t, mustRead(t, "testdata/session.pcap"), capture.Config{})
	require.NoError(t, r.err)
	for _, e := range r.events {
		assert.Contains(t, e, `user="ql" schema="harness"`)
	}
	r = analyze(t, mustRead(t, "testdata/midstream.pcap"), capture.Config{})
	require.NoError(t, r.err)
	for _, e := range r.events {
		assert.Contains(t, e, `user="" schema=""`)
	}
}

// TestPcapng reads the same packets from a pcapng file.
func TestPcapng(t *testing.T) {
	pkts := readPackets(t, "testdata/session.pcap")
	want := analyze(t, writePcap(t, pkts), capture.Config{})
	got := analyze(t, writePcapng(t, pkts), capture.Config{})
	require.NoError(t, got.err)
	assert.Equal(t, want.events, got.events)
	assert.NotEmpty(t, got.events)
}

// TestFlowSelection picks flows by port and by server address.
func TestFlowSelection(t *testing.T) {
	data := mustRead(t, "testdata/session.pcap")
	all := analyze(t, data, capture.Config{}).events
	require.NotEmpty(t, all)
	for _, tc := range []struct {
		name string
		cfg  capture.Config
		want int
	}{
		{"default port", capture.Config{}, len(all)},
		{"other port", capture.Config{Ports: []uint16{3307}}, 0},
		{"several ports", capture.Config{Ports: []uint16{3307, 3306}}, len(all)},
		{"server with port", capture.Config{Servers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:3306")}}, len(all)},
		{"server, any of the ports", capture.Config{Servers: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)}}, len(all)},
		{"other server", capture.Config{Servers: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:3306")}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := analyze(t, data, tc.cfg)
			require.NoError(t, r.err)
			assert.Len(t, r.events, tc.want)
			if tc.want == 0 {
				assert.Equal(t, r.stats.Packets, r.stats.Other)
			}
		})
	}
}

// TestReassembly replays the recorded sessions with segments split and
// delivered out of order, retransmitted, and overlapping: the events must
// be the same as from the original capture.
func TestReassembly(t *testing.T) {
	for _, file := range []string{"session.pcap", "compressed.pcap", "midstream.pcap"} {
		t.Run(file, func(t *testing.T) {
			pkts := readPackets(t, "testdata/"+file)
			want := analyze(t, writePcap(t, pkts), capture.Config{})
			require.NoError(t, want.err)

			var reordered, retransmitted, overlapping []rawPacket
			n := 0
			for _, p := range pkts {
				s := decodeSeg(t, p)
				if len(s.payload) < 2 {
					reordered = append(reordered, p)
					retransmitted = append(retransmitted, p)
					overlapping = append(overlapping, p)
					continue
				}
				n++
				a, b := s.split(len(s.payload) / 2)
				// Second half first: held until the first arrives.
				reordered = append(reordered, b.encode(t), a.encode(t))
				// The whole segment twice, and its first half again later.
				retransmitted = append(retransmitted, p, p, a.encode(t))
				// The first half, then the whole segment overlapping it.
				overlapping = append(overlapping, a.encode(t), p)
			}
			require.Positive(t, n)
			for name, variant := range map[string][]rawPacket{
				"reordered": reordered, "retransmitted": retransmitted, "overlapping": overlapping,
			} {
				got := analyze(t, writePcap(t, variant), capture.Config{})
				require.NoError(t, got.err, name)
				if file == "midstream.pcap" && name == "reordered" {
					// Joined mid-stream, a direction starts with the first
					// segment seen: here the second half of a command, so
					// the first command of each connection is lost (and
					// the statement its PREPARE made is unknown).
					var known []string
					for _, e := range got.events {
						if !strings.Contains(e, ` "" `) {
							known = append(known, e)
						}
					}
					// Lost: the first query of one connection and the
					// PREPARE of the other (whose EXECUTE and CLOSE come
					// without SQL).
					require.Len(t, want.events, 20)
					assert.Equal(t, append(want.events[1:2:2], want.events[5:]...), known, name)
					assert.Len(t, got.events, len(want.events)-2, name)
					continue
				}
				assert.Equal(t, want.events, got.events, name)
				assert.Zero(t, got.stats.Gaps, name)
				assert.Zero(t, got.stats.Desyncs, name)
				if name == "retransmitted" {
					assert.Equal(t, uint64(2*n), got.stats.Retransmits, name)
				}
			}
		})
	}
}

// TestGapResyncs drops one client segment in the middle of a connection:
// the gap is counted, the command it carried is lost, and decoding resumes
// with the next command.
func TestGapResyncs(t *testing.T) {
	pkts := readPackets(t, "testdata/session.pcap")
	want := analyze(t, writePcap(t, pkts), capture.Config{})
	require.NoError(t, want.err)

	// The fourth client command of the first connection (an INSERT).
	var dropped string
	var kept []rawPacket
	seen := 0
	for _, p := range pkts {
		s := decodeSeg(t, p)
		if s.tcp.DstPort == 3306 && len(s.payload) > 5 && s.payload[3] == 0 && s.payload[4] == byte(protocol.ComQuery) {
			seen++
			if seen == 4 {
				dropped = string(s.payload[5:])
				continue
			}
		}
		kept = append(kept, p)
	}
	require.NotEmpty(t, dropped)
	got := analyze(t, writePcap(t, kept), capture.Config{})
	require.NoError(t, got.err)
	assert.Equal(t, uint64(1), got.stats.Gaps)
	assert.Equal(t, uint64(1), got.stats.Desyncs)
	// Every event but the lost command's is there; nothing else changed.
	var expect []string
	for _, e := range want.events {
		if !strings.Contains(e, dropped) {
			expect = append(expect, e)
		}
	}
	assert.Equal(t, expect, got.events)
}

// TestTruncatedFile cuts the file inside its last packet record: the error
// says so and the packets before it are analysed.
func TestTruncatedFile(t *testing.T) {
	data := mustRead(t, "testdata/session.pcap")
	whole := analyze(t, data, capture.Config{})
	require.NoError(t, whole.err)
	got := analyze(t, data[:len(data)-3], capture.Config{})
	require.ErrorIs(t, got.err, capture.ErrTruncated)
	assert.Contains(t, got.err.Error(), fmt.Sprintf("after %d packets", whole.stats.Packets-1))
	assert.Equal(t, whole.stats.Packets-1, got.stats.Packets)
	assert.NotEmpty(t, got.events)

	_, err := capture.FirstPacketTime(bytes.NewReader(data[:30]))
	require.ErrorIs(t, err, capture.ErrTruncated)
	first, err := capture.FirstPacketTime(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, whole.stats.First, first)
}

// TestNotACapture rejects other input with ErrNotCapture.
func TestNotACapture(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty": nil,
		"text":  []byte("SELECT 1; this is not a capture\n"),
		"short": {0xD4, 0xC3},
		"json":  []byte(`{"version":1}`),
	} {
		t.Run(name, func(t *testing.T) {
			r := analyze(t, data, capture.Config{})
			require.ErrorIs(t, r.err, capture.ErrNotCapture)
			_, err := capture.FirstPacketTime(bytes.NewReader(data))
			require.ErrorIs(t, err, capture.ErrNotCapture)
		})
	}
}

// TestContextCancel stops reading when the context ends.
func TestContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	an := capture.New(capture.Config{}, func(*protocol.Event) {})
	err := an.Read(ctx, bytes.NewReader(mustRead(t, "testdata/session.pcap")))
	require.ErrorIs(t, err, context.Canceled)
}

// synthetic builds TCP traffic between 127.0.0.1:50000 and 127.0.0.1:3306
// from byte chunks, for cases no recorded capture has.
type synthetic struct {
	t        *testing.T
	pkts     []rawPacket
	seq      [2]uint32
	at       time.Time
	clientIP netip.Addr
}

func newSynthetic(t *testing.T) *synthetic {
	return &synthetic{t: t, seq: [2]uint32{1000, 5000}, at: time.Unix(1_700_000_000, 0).UTC(),
		clientIP: netip.MustParseAddr("127.0.0.1")}
}

func (s *synthetic) packet(dir protocol.Direction, syn, ack bool, payload []byte) {
	s.at = s.at.Add(time.Millisecond)
	sg := seg{
		ci:  gopacket.CaptureInfo{Timestamp: s.at},
		eth: layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeIPv4},
		ip: layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: s.clientIP.AsSlice(), DstIP: s.clientIP.AsSlice()},
		tcp:     layers.TCP{SrcPort: 50000, DstPort: 3306, Seq: s.seq[dir], SYN: syn, ACK: ack, PSH: len(payload) > 0, Window: 512},
		payload: payload,
	}
	if dir == protocol.FromServer {
		sg.tcp.SrcPort, sg.tcp.DstPort = 3306, 50000
	}
	if ack {
		sg.tcp.Ack = s.seq[1-dir]
	}
	s.seq[dir] += uint32(len(payload))
	if syn {
		s.seq[dir]++
	}
	s.pkts = append(s.pkts, sg.encode(s.t))
}

// handshake emits SYN, SYN-ACK and ACK.
func (s *synthetic) handshake() {
	s.packet(protocol.FromClient, true, false, nil)
	s.packet(protocol.FromServer, true, true, nil)
	s.packet(protocol.FromClient, false, true, nil)
}

func (s *synthetic) send(dir protocol.Direction, payload []byte) { s.packet(dir, false, true, payload) }

func (s *synthetic) file() []byte { return writePcap(s.t, s.pkts) }

// mysqlPacket frames a payload with sequence id seq.
func mysqlPacket(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

// TestTLSConnections counts TLS connections, from the handshake and joined
// mid-stream, without decoding them.
func TestTLSConnections(t *testing.T) {
	greeting := protocol.AppendGreeting(nil, "10.11.9-MariaDB", 7, [20]byte{})
	greeting[4+1+len("10.11.9-MariaDB")+1+4+8+1+1] |= byte(protocol.CapSSL >> 8) // advertise CLIENT_SSL
	sslRequest := make([]byte, 32)
	caps := protocol.CapProtocol41 | protocol.CapSSL | protocol.CapSecureConnection | protocol.CapPluginAuth
	sslRequest[0], sslRequest[1], sslRequest[2], sslRequest[3] = byte(caps), byte(caps>>8), byte(caps>>16), byte(caps>>24)
	record := func(typ byte, n int) []byte {
		return append([]byte{typ, 3, 3, byte(n >> 8), byte(n)}, bytes.Repeat([]byte{0xA5}, n)...)
	}

	s := newSynthetic(t)
	s.handshake()
	s.send(protocol.FromServer, greeting)
	s.send(protocol.FromClient, mysqlPacket(1, sslRequest))
	s.send(protocol.FromClient, record(22, 200))
	s.send(protocol.FromServer, record(22, 900))
	s.send(protocol.FromClient, record(23, 60))
	s.send(protocol.FromServer, record(23, 80))
	r := analyze(t, s.file(), capture.Config{})
	require.NoError(t, r.err)
	assert.Equal(t, uint64(1), r.stats.TLSConns)
	assert.Equal(t, uint64(1), r.stats.MySQLConns)
	assert.Equal(t, map[string]int{"connect": 1}, countCommands(r.events)) // the login, incomplete
	assert.Contains(t, r.events[0], "inc=true")

	s = newSynthetic(t)
	s.send(protocol.FromClient, record(23, 120))
	s.send(protocol.FromServer, record(23, 300))
	s.send(protocol.FromClient, record(23, 40))
	r = analyze(t, s.file(), capture.Config{})
	require.NoError(t, r.err)
	assert.Equal(t, uint64(1), r.stats.TLSConns)
	assert.Equal(t, uint64(0), r.stats.MySQLConns)
	assert.Empty(t, r.events)
}

// TestMidstreamEOFStyle joins a connection that does not use
// CLIENT_DEPRECATE_EOF mid-stream: the probe sees the EOF after the column
// definitions and rows are counted right.
func TestMidstreamEOFStyle(t *testing.T) {
	coldef := append([]byte{3, 'd', 'e', 'f'}, bytes.Repeat([]byte{0}, 20)...)
	eof := []byte{0xFE, 0, 0, 2, 0}
	s := newSynthetic(t)
	// A response in flight when the capture started: ignored.
	s.send(protocol.FromServer, mysqlPacket(5, []byte("\x01x")))
	for i := range 3 {
		s.send(protocol.FromClient, mysqlPacket(0, []byte("\x03SELECT a, b FROM t")))
		var resp []byte
		resp = append(resp, mysqlPacket(1, []byte{2})...)
		resp = append(resp, mysqlPacket(2, coldef)...)
		resp = append(resp, mysqlPacket(3, coldef)...)
		resp = append(resp, mysqlPacket(4, eof)...)
		for j := range i + 1 {
			resp = append(resp, mysqlPacket(byte(5+j), []byte("\x011\x012"))...)
		}
		resp = append(resp, mysqlPacket(byte(6+i), eof)...)
		s.send(protocol.FromServer, resp)
	}
	r := analyze(t, s.file(), capture.Config{})
	require.NoError(t, r.err)
	assert.Equal(t, uint64(1), r.stats.Midstream)
	assert.Zero(t, r.stats.Desyncs)
	require.Len(t, r.events, 3)
	for i, e := range r.events {
		assert.Contains(t, e, `"SELECT a, b FROM t" err=0 rows=`+string(rune('1'+i))+" ")
	}
}

// TestIdleAndConnLimits ends connections by capture time and by number.
func TestIdleAndConnLimits(t *testing.T) {
	s := newSynthetic(t)
	s.send(protocol.FromClient, mysqlPacket(0, []byte("\x03SELECT 1")))
	// No answer: the command is in flight when the connection goes idle.
	s.at = s.at.Add(2 * time.Hour)
	s.clientIP = netip.MustParseAddr("127.0.0.2")
	s.send(protocol.FromClient, mysqlPacket(0, []byte("\x0e")))
	var order []string
	an := capture.New(capture.Config{IdleTimeout: time.Hour}, func(ev *protocol.Event) { order = append(order, summary(ev)) })
	require.NoError(t, an.Read(context.Background(), bytes.NewReader(s.file())))
	require.Len(t, order, 1, "the idle connection ends before the file does")
	assert.Contains(t, order[0], `query "SELECT 1"`)
	assert.Contains(t, order[0], "inc=true")
	an.Close()
	assert.Len(t, order, 2)

	// MaxConns: the least recently active connection ends when a new one
	// would exceed the bound.
	s = newSynthetic(t)
	s.send(protocol.FromClient, mysqlPacket(0, []byte("\x03SELECT 1")))
	s.clientIP = netip.MustParseAddr("127.0.0.2")
	s.send(protocol.FromClient, mysqlPacket(0, []byte("\x03SELECT 2")))
	s.clientIP = netip.MustParseAddr("127.0.0.3")
	s.send(protocol.FromClient, mysqlPacket(0, []byte("\x03SELECT 3")))
	order = nil
	an = capture.New(capture.Config{MaxConns: 2}, func(ev *protocol.Event) { order = append(order, summary(ev)) })
	require.NoError(t, an.Read(context.Background(), bytes.NewReader(s.file())))
	require.Len(t, order, 1)
	assert.Contains(t, order[0], `"SELECT 1"`)
	an.Close()
	assert.Len(t, order, 3)
}

// TestDecodeErrorsAreNotFatal feeds garbage on a server port after a
// command boundary: the session desyncs, the rest of the file is read.
func TestDecodeErrorsAreNotFatal(t *testing.T) {
	s := newSynthetic(t)
	s.handshake()
	s.send(protocol.FromServer, []byte("this is not a MySQL greeting at all"))
	// Client data before a greeting: the session desyncs on it.
	s.send(protocol.FromClient, mysqlPacket(0, []byte("\x03SELECT 1")))
	s.send(protocol.FromServer, mysqlPacket(1, []byte{0, 0, 0, 2, 0, 0, 0}))
	// The next command boundary starts a new session.
	s.send(protocol.FromClient, mysqlPacket(0, []byte("\x03SELECT 2")))
	s.send(protocol.FromServer, mysqlPacket(1, []byte{0, 0, 0, 2, 0, 0, 0}))
	r := analyze(t, s.file(), capture.Config{})
	require.NoError(t, r.err)
	assert.Equal(t, uint64(1), r.stats.Desyncs)
	assert.Equal(t, uint64(1), r.stats.MySQLConns)
	require.Len(t, r.events, 1)
	assert.Contains(t, r.events[0], `query "SELECT 2" err=0`)
}

// FuzzRead feeds arbitrary bytes to the reader and the analyzer: no panic,
// and errors are the documented ones or reader errors. The seeds (the
// recorded captures, cut and flipped) run in every go test.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"session.pcap", "compressed.pcap", "midstream.pcap"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		flipped := bytes.Clone(b)
		for i := 100; i < len(flipped); i += 97 {
			flipped[i] ^= 0x5A
		}
		f.Add(flipped)
	}
	f.Add([]byte{})
	f.Add([]byte{0xD4, 0xC3, 0xB2, 0xA1})
	f.Add([]byte{0x0A, 0x0D, 0x0D, 0x0A, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		events := 0
		an := capture.New(capture.Config{MaxBufferedBytes: 4096, MaxConns: 8}, func(ev *protocol.Event) {
			if ev == nil {
				t.Fatal("nil event")
			}
			events++
		})
		_ = an.Read(context.Background(), bytes.NewReader(data))
		an.Close()
		if s := an.Stats(); s.Events != uint64(events) {
			t.Fatalf("stats say %d events, handler saw %d", s.Events, events)
		}
	})
}

// TestLinkTypes reads the same exchange framed as tcpdump frames it on
// different interfaces: Ethernet (lo, eth0), Linux cooked v1 and v2 (-i
// any), BSD loopback and raw IP, over IPv4 and IPv6.
func TestLinkTypes(t *testing.T) {
	v4c, v4s := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.1.2.4")
	v6c, v6s := netip.MustParseAddr("fd00::3"), netip.MustParseAddr("fd00::4")
	// ipTCP serializes an IP packet carrying a TCP segment.
	ipTCP := func(src, dst netip.Addr, sport, dport uint16, seq, ack uint32, syn bool, payload []byte) []byte {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ack,
			SYN: syn, ACK: !syn || dport != 3306, PSH: len(payload) > 0, Window: 512}
		var ip gopacket.SerializableLayer
		if src.Is4() {
			ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
			require.NoError(t, tcp.SetNetworkLayerForChecksum(ip4))
			ip = ip4
		} else {
			ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
			require.NoError(t, tcp.SetNetworkLayerForChecksum(ip6))
			ip = ip6
		}
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			ip, tcp, gopacket.Payload(payload)))
		return bytes.Clone(buf.Bytes())
	}
	v6 := func(b []byte) bool { return b[0]>>4 == 6 }
	frames := map[string]struct {
		link  layers.LinkType
		frame func(ip []byte) []byte
	}{
		"ethernet": {layers.LinkTypeEthernet, func(ip []byte) []byte {
			typ := []byte{0x08, 0x00}
			if v6(ip) {
				typ = []byte{0x86, 0xDD}
			}
			return append(append(make([]byte, 12), typ...), ip...)
		}},
		"linux cooked v1": {layers.LinkTypeLinuxSLL, func(ip []byte) []byte {
			h := []byte{0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00}
			if v6(ip) {
				h[14], h[15] = 0x86, 0xDD
			}
			return append(h, ip...)
		}},
		"linux cooked v2": {layers.LinkTypeLinuxSLL2, func(ip []byte) []byte {
			h := []byte{0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0}
			if v6(ip) {
				h[0], h[1] = 0x86, 0xDD
			}
			return append(h, ip...)
		}},
		"bsd loopback": {layers.LinkTypeNull, func(ip []byte) []byte {
			family := []byte{2, 0, 0, 0}
			if v6(ip) {
				family = []byte{30, 0, 0, 0}
			}
			return append(family, ip...)
		}},
		"raw ip": {layers.LinkTypeRaw, func(ip []byte) []byte { return ip }},
	}
	for name, f := range frames {
		for _, addrs := range [][2]netip.Addr{{v4c, v4s}, {v6c, v6s}} {
			c, s := addrs[0], addrs[1]
			t.Run(name+" "+c.String(), func(t *testing.T) {
				var b bytes.Buffer
				w := pcapgo.NewWriter(&b)
				require.NoError(t, w.WriteFileHeader(65536, f.link))
				at := time.Unix(1_700_000_000, 0)
				write := func(ip []byte) {
					at = at.Add(time.Millisecond)
					data := f.frame(ip)
					require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(data), Length: len(data)}, data))
				}
				q := mysqlPacket(0, []byte("\x03SELECT 1"))
				ok := mysqlPacket(1, []byte{0, 0, 0, 2, 0, 0, 0})
				write(ipTCP(c, s, 50000, 3306, 100, 900, false, q))
				write(ipTCP(s, c, 3306, 50000, 900, 100+uint32(len(q)), false, ok))
				r := analyze(t, b.Bytes(), capture.Config{})
				require.NoError(t, r.err)
				require.Len(t, r.events, 1)
				assert.Contains(t, r.events[0], netip.AddrPortFrom(c, 50000).String()+` query "SELECT 1" err=0`)
				assert.Zero(t, r.stats.Other)
			})
		}
	}
}

// TestPortReuse starts a new connection on the addresses and ports of one
// whose end was not captured: the old one ends, the new one is decoded
// from its greeting.
func TestPortReuse(t *testing.T) {
	pkts := readPackets(t, "testdata/session.pcap")
	first := decodeSeg(t, pkts[0])
	require.True(t, first.tcp.SYN)
	var conn []rawPacket
	for _, p := range pkts {
		s := decodeSeg(t, p)
		if s.tcp.SrcPort == first.tcp.SrcPort || s.tcp.DstPort == first.tcp.SrcPort {
			if s.tcp.FIN || s.tcp.RST {
				break // the end of the connection is lost
			}
			conn = append(conn, p)
		}
	}
	once := analyze(t, writePcap(t, conn), capture.Config{})
	require.NoError(t, once.err)
	// The same connection again, later, with other sequence numbers.
	twice := append([]rawPacket(nil), conn...)
	for _, p := range conn {
		s := decodeSeg(t, p)
		s.tcp.Seq += 1 << 30
		if s.tcp.ACK {
			s.tcp.Ack += 1 << 30
		}
		s.ci.Timestamp = s.ci.Timestamp.Add(time.Second)
		twice = append(twice, s.encode(t))
	}
	got := analyze(t, writePcap(t, twice), capture.Config{})
	require.NoError(t, got.err)
	assert.Equal(t, append(once.events, once.events...), got.events)
	assert.Equal(t, uint64(2), got.stats.MySQLConns)
	assert.Zero(t, got.stats.Gaps)
}
