package capture_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/capture"
	"github.com/querylens/querylens/protocol"
)

// TestBuildBigCapture writes a large capture for measuring `querylens
// analyze` (README, "Offline analysis"): the recorded sessions of testdata
// repeated, each copy a distinct TCP connection (its own client address
// and sequence numbers, checksums recomputed, later timestamps), so the
// decoder sees what it would see in a real capture of many short sessions.
//
//	QUERYLENS_BIG_CAPTURE=/tmp/big.pcap QUERYLENS_BIG_CAPTURE_MB=1024 \
//	  go test ./capture/ -run TestBuildBigCapture -count=1
//
// The file is not kept in the repository.
func TestBuildBigCapture(t *testing.T) {
	path := os.Getenv("QUERYLENS_BIG_CAPTURE")
	if path == "" {
		t.Skip("set QUERYLENS_BIG_CAPTURE=/tmp/big.pcap (and QUERYLENS_BIG_CAPTURE_MB, default 1024) to build it")
	}
	mb := 1024
	if v := os.Getenv("QUERYLENS_BIG_CAPTURE_MB"); v != "" {
		var err error
		mb, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	var templates [][]rawPacket
	for _, name := range []string{"session.pcap", "compressed.pcap"} {
		templates = append(templates, readPackets(t, "testdata/"+name))
	}
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	require.NoError(t, w.WriteFileHeader(262144, layers.LinkTypeEthernet))

	limit := int64(mb) << 20
	written := int64(24)
	at := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	buf := make([]byte, 0, 65536)
	for k := 0; written < limit; k++ {
		tpl := templates[k%len(templates)]
		start := tpl[0].ci.Timestamp
		for _, p := range tpl {
			buf = append(buf[:0], p.data...)
			rewrite(buf, k)
			ci := p.ci
			ci.Timestamp = at.Add(p.ci.Timestamp.Sub(start))
			require.NoError(t, w.WritePacket(ci, buf))
			written += int64(16 + len(buf))
		}
		at = at.Add(tpl[len(tpl)-1].ci.Timestamp.Sub(start) + time.Millisecond)
	}
	require.NoError(t, bw.Flush())
	t.Logf("wrote %s: %d MiB", path, written>>20)
}

// rewrite makes packet data (Ethernet, IPv4, TCP, as tcpdump recorded it
// on lo) belong to copy k: the client becomes 127.a.b.c and both sequence
// spaces shift, then both checksums are computed again.
func rewrite(data []byte, k int) {
	ip := data[14:]
	ihl := int(ip[0]&0x0F) * 4
	tcp := ip[ihl:]
	client := [4]byte{127, byte(k >> 16), byte(k >> 8), byte(k)}
	if client[3] == 0 || client[3] == 1 && client[1] == 0 && client[2] == 0 {
		client[3] = 2 // never 127.0.0.1 (the server) nor a .0
	}
	fromClient := binary.BigEndian.Uint16(tcp[2:]) == 3306
	if fromClient {
		copy(ip[12:16], client[:])
	} else {
		copy(ip[16:20], client[:])
	}
	shift := uint32(k) * 7919
	binary.BigEndian.PutUint32(tcp[4:], binary.BigEndian.Uint32(tcp[4:])+shift)
	if tcp[13]&0x10 != 0 { // ACK
		binary.BigEndian.PutUint32(tcp[8:], binary.BigEndian.Uint32(tcp[8:])+shift)
	}
	totalLen := int(binary.BigEndian.Uint16(ip[2:]))
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], checksum(ip[:ihl], 0))
	seg := ip[ihl:totalLen]
	seg[16], seg[17] = 0, 0
	var pseudo uint32
	pseudo += uint32(binary.BigEndian.Uint16(ip[12:])) + uint32(binary.BigEndian.Uint16(ip[14:]))
	pseudo += uint32(binary.BigEndian.Uint16(ip[16:])) + uint32(binary.BigEndian.Uint16(ip[18:]))
	pseudo += 6 + uint32(len(seg))
	binary.BigEndian.PutUint16(seg[16:], checksum(seg, pseudo))
}

// checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xFFFF {
		sum = sum>>16 + sum&0xFFFF
	}
	return ^uint16(sum)
}

// TestRewriteKeepsTraffic checks the copies of TestBuildBigCapture decode
// like the original: same events, one connection more per copy, valid
// checksums.
func TestRewriteKeepsTraffic(t *testing.T) {
	pkts := readPackets(t, "testdata/session.pcap")
	want := analyze(t, writePcap(t, pkts), capture.Config{})
	require.NoError(t, want.err)
	var copies []rawPacket
	for k := 1; k <= 3; k++ {
		for _, p := range pkts {
			data := append([]byte(nil), p.data...)
			rewrite(data, k*70000)
			s := decodeSeg(t, rawPacket{ci: p.ci, data: data})
			// Encoding again recomputes the checksums: they must not change.
			require.Equal(t, data, s.encode(t).data)
			copies = append(copies, rawPacket{ci: p.ci, data: data})
		}
	}
	var events []*protocol.Event
	an := capture.New(capture.Config{}, func(ev *protocol.Event) { events = append(events, ev) })
	require.NoError(t, an.Read(context.Background(), bytes.NewReader(writePcap(t, copies))))
	an.Close()
	st := an.Stats()
	require.Equal(t, 3*want.stats.MySQLConns, st.MySQLConns)
	require.Len(t, events, 3*len(want.events))
	require.Zero(t, st.Gaps)
}

// BenchmarkAnalyze analyses 500 copies of the recorded sessions held in
// memory (see TestBuildBigCapture for the file-based measurement).
func BenchmarkAnalyze(b *testing.B) {
	var pkts []rawPacket
	tpl := [][]rawPacket{readPackets(b, "testdata/session.pcap"), readPackets(b, "testdata/compressed.pcap")}
	at := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for k := range 500 {
		t := tpl[k%2]
		for _, p := range t {
			data := append([]byte(nil), p.data...)
			rewrite(data, k)
			ci := p.ci
			ci.Timestamp = at.Add(p.ci.Timestamp.Sub(t[0].ci.Timestamp))
			pkts = append(pkts, rawPacket{ci: ci, data: data})
		}
		at = at.Add(time.Second)
	}
	file := writePcap(b, pkts)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		an := capture.New(capture.Config{}, func(*protocol.Event) { events++ })
		if err := an.Read(context.Background(), bytes.NewReader(file)); err != nil {
			b.Fatal(err)
		}
		an.Close()
	}
	b.ReportMetric(float64(events)/float64(b.N)/float64(len(pkts)), "events/packet")
}
