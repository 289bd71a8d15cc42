package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ErrNotCapture is returned for input that is not a pcap or pcapng file.
var ErrNotCapture = errors.New("not a pcap or pcapng capture")

// ErrTruncated is returned when a file ends inside a packet record: the
// packets before it have been analysed.
var ErrTruncated = errors.New("file is truncated")

// File magic numbers.
const (
	magicPcapMicro   = 0xA1B2C3D4
	magicPcapNano    = 0xA1B23C4D
	magicPcapngBlock = 0x0A0D0D0A // section header block type
	magicGzip        = 0x1F8B
)

// readBufferSize is the buffer between the file and the pcap reader.
const readBufferSize = 1 << 20

// packetSource yields the packets of one capture file. data is valid until
// the next call.
type packetSource interface {
	next() (data []byte, ci gopacket.CaptureInfo, link layers.LinkType, err error)
}

type pcapSource struct {
	r    *pcapgo.Reader
	link layers.LinkType
}

func (p *pcapSource) next() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	data, ci, err := p.r.ZeroCopyReadPacketData()
	return data, ci, p.link, err
}

type ngSource struct{ r *pcapgo.NgReader }

func (p *ngSource) next() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	data, ci, err := p.r.ZeroCopyReadPacketData()
	link := layers.LinkTypeNull
	if err == nil && len(ci.AncillaryData) > 0 {
		if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			link = l
		}
	}
	return data, ci, link, err
}

// openSource sniffs the format of r and returns a packet source for it.
func openSource(r io.Reader) (packetSource, error) {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < readBufferSize {
		br = bufio.NewReaderSize(r, readBufferSize)
	}
	head, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: file is %d bytes long", ErrNotCapture, len(head))
		}
		return nil, err
	}
	le, be := binary.LittleEndian.Uint32(head), binary.BigEndian.Uint32(head)
	switch {
	case le == magicPcapngBlock:
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("%w: pcapng: %v", ErrNotCapture, err)
		}
		return &ngSource{r: ng}, nil
	case le == magicPcapMicro || le == magicPcapNano || be == magicPcapMicro || be == magicPcapNano ||
		binary.BigEndian.Uint16(head) == magicGzip:
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: pcap: %v", ErrNotCapture, err)
		}
		return &pcapSource{r: pr, link: pr.LinkType()}, nil
	}
	return nil, ErrNotCapture
}

// tcpPacket is the part of a decoded packet the analyzer uses. payload
// aliases the packet data.
type tcpPacket struct {
	src, dst    netip.AddrPort
	seq, ack    uint32
	syn, fin    bool
	rst, hasAck bool
	payload     []byte
	at          time.Time
	// short is set when the capture kept fewer bytes than the packet had
	// (snap length): the payload is incomplete.
	short bool
}

// decoder turns link-layer frames into TCP segments, reusing its layers.
type decoder struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	parsers map[gopacket.LayerType]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

func newDecoder() *decoder {
	d := &decoder{parsers: make(map[gopacket.LayerType]*gopacket.DecodingLayerParser)}
	for _, first := range []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL,
		layers.LayerTypeLinuxSLL2, layers.LayerTypeLoopback, layers.LayerTypeIPv4, layers.LayerTypeIPv6} {
		p := gopacket.NewDecodingLayerParser(first, &d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.tcp)
		p.IgnoreUnsupported = true
		d.parsers[first] = p
	}
	return d
}

// firstLayer maps a link type to the layer its frames start with.
func firstLayer(link layers.LinkType, data []byte) (gopacket.LayerType, bool) {
	switch link {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet, true
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL, true
	case layers.LinkTypeLinuxSLL2:
		return layers.LayerTypeLinuxSLL2, true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback, true
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		// Raw IP (12 and 14 are DLT_RAW on some BSDs): the version nibble says.
		if len(data) > 0 && data[0]>>4 == 6 {
			return layers.LayerTypeIPv6, true
		}
		return layers.LayerTypeIPv4, true
	}
	return 0, false
}

// decode decodes one frame. ok is false for frames that are not TCP over
// IPv4 or IPv6 (or are IP fragments, which carry no usable TCP header).
func (d *decoder) decode(data []byte, ci gopacket.CaptureInfo, link layers.LinkType, p *tcpPacket) bool {
	first, ok := firstLayer(link, data)
	if !ok {
		return false
	}
	parser := d.parsers[first]
	d.decoded = d.decoded[:0]
	if err := parser.DecodeLayers(data, &d.decoded); err != nil {
		return false
	}
	var haveIP, haveTCP bool
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				return false
			}
			src, _ := netip.AddrFromSlice(d.ip4.SrcIP.To4())
			dst, _ := netip.AddrFromSlice(d.ip4.DstIP.To4())
			p.src, p.dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
			haveIP = true
		case layers.LayerTypeIPv6:
			src, _ := netip.AddrFromSlice(d.ip6.SrcIP)
			dst, _ := netip.AddrFromSlice(d.ip6.DstIP)
			p.src, p.dst = netip.AddrPortFrom(src.Unmap(), 0), netip.AddrPortFrom(dst.Unmap(), 0)
			haveIP = true
		case layers.LayerTypeTCP:
			haveTCP = true
		}
	}
	if !haveIP || !haveTCP {
		return false
	}
	t := &d.tcp
	p.src = netip.AddrPortFrom(p.src.Addr(), uint16(t.SrcPort))
	p.dst = netip.AddrPortFrom(p.dst.Addr(), uint16(t.DstPort))
	p.seq, p.ack = t.Seq, t.Ack
	p.syn, p.fin, p.rst, p.hasAck = t.SYN, t.FIN, t.RST, t.ACK
	p.payload = t.Payload
	p.at = ci.Timestamp
	p.short = parser.Truncated || ci.CaptureLength < ci.Length
	return true
}

// FirstPacketTime returns the timestamp of the first packet of the capture
// read from r, or the zero time for a capture without packets. It returns
// an error wrapping ErrNotCapture for other input.
func FirstPacketTime(r io.Reader) (time.Time, error) {
	src, err := openSource(r)
	if err != nil {
		return time.Time{}, err
	}
	_, ci, _, err := src.next()
	switch {
	case err == nil:
		return ci.Timestamp, nil
	case errors.Is(err, io.EOF):
		return time.Time{}, nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		return time.Time{}, fmt.Errorf("%w in its first packet record", ErrTruncated)
	}
	return time.Time{}, err
}
