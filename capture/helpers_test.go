package capture_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/capture"
	"github.com/querylens/querylens/protocol"
)

// rawPacket is one record of a capture file.
type rawPacket struct {
	ci   gopacket.CaptureInfo
	data []byte
}

// readPackets reads every record of an Ethernet pcap file.
func readPackets(t testing.TB, path string) []rawPacket {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	require.Equal(t, layers.LinkTypeEthernet, r.LinkType(), path)
	var pkts []rawPacket
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return pkts
		}
		require.NoError(t, err)
		pkts = append(pkts, rawPacket{ci: ci, data: data})
	}
}

// writePcap encodes packets as an Ethernet pcap file.
func writePcap(t testing.TB, pkts []rawPacket) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	require.NoError(t, w.WriteFileHeader(262144, layers.LinkTypeEthernet))
	for _, p := range pkts {
		require.NoError(t, w.WritePacket(p.ci, p.data))
	}
	return b.Bytes()
}

// writePcapng encodes packets as a pcapng file.
func writePcapng(t testing.TB, pkts []rawPacket) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
	require.NoError(t, err)
	for _, p := range pkts {
		require.NoError(t, w.WritePacket(p.ci, p.data))
	}
	require.NoError(t, w.Flush())
	return b.Bytes()
}

// seg is a decoded Ethernet/IPv4/TCP packet that can be changed and encoded
// again.
type seg struct {
	ci      gopacket.CaptureInfo
	eth     layers.Ethernet
	ip      layers.IPv4
	tcp     layers.TCP
	payload []byte
}

func decodeSeg(t testing.TB, p rawPacket) seg {
	t.Helper()
	pkt := gopacket.NewPacket(p.data, layers.LinkTypeEthernet, gopacket.Default)
	eth, ok1 := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, ok2 := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp, ok3 := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	require.True(t, ok1 && ok2 && ok3, "not Ethernet/IPv4/TCP")
	return seg{ci: p.ci, eth: *eth, ip: *ip, tcp: *tcp, payload: bytes.Clone(tcp.Payload)}
}

// encode serializes s with fixed lengths and checksums.
func (s seg) encode(t testing.TB) rawPacket {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	ip, tcp := s.ip, s.tcp
	require.NoError(t, tcp.SetNetworkLayerForChecksum(&ip))
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&s.eth, &ip, &tcp, gopacket.Payload(s.payload)))
	data := bytes.Clone(buf.Bytes())
	ci := s.ci
	ci.CaptureLength, ci.Length = len(data), len(data)
	return rawPacket{ci: ci, data: data}
}

// split cuts a data segment in two at n bytes.
func (s seg) split(n int) (seg, seg) {
	a, b := s, s
	a.payload = bytes.Clone(s.payload[:n])
	a.tcp.FIN = false
	b.payload = bytes.Clone(s.payload[n:])
	b.tcp.Seq = s.tcp.Seq + uint32(n)
	return a, b
}

// result is what an analysis produced.
type result struct {
	events []string
	stats  capture.Stats
	err    error
}

// summary renders an event for comparisons.
func summary(ev *protocol.Event) string {
	return fmt.Sprintf("%s %s %q err=%d rows=%d affected=%d inc=%v user=%q schema=%q",
		ev.ClientAddr, ev.Command, ev.SQL, ev.ErrorCode, ev.RowsSent, ev.RowsAffected, ev.Incomplete, ev.User, ev.Schema)
}

// analyze runs an Analyzer over one capture file's bytes.
func analyze(t testing.TB, data []byte, cfg capture.Config) result {
	t.Helper()
	var r result
	an := capture.New(cfg, func(ev *protocol.Event) { r.events = append(r.events, summary(ev)) })
	r.err = an.Read(context.Background(), bytes.NewReader(data))
	an.Close()
	r.stats = an.Stats()
	return r
}

// countCommands counts events by command name.
func countCommands(events []string) map[string]int {
	m := map[string]int{}
	for _, e := range events {
		var addr, cmd string
		fmt.Sscanf(e, "%s %s", &addr, &cmd)
		m[cmd]++
	}
	return m
}
