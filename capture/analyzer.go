package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/querylens/querylens/protocol"
)

// Config configures an Analyzer. The zero value of each field means its
// default.
type Config struct {
	// Ports are the server ports whose TCP connections are analysed.
	// Default 3306.
	Ports []uint16
	// Servers, when set, restrict the analysis to these servers: an
	// address with a port, or an address with port 0 meaning any of Ports.
	Servers []netip.AddrPort
	// MaxSQLBytes caps the statement text kept per command (see
	// protocol.SessionConfig). Default 64 KiB.
	MaxSQLBytes int
	// MaxBufferedBytes bounds the out-of-order bytes held per direction;
	// a segment beyond it is a gap. Default 1 MiB.
	MaxBufferedBytes int
	// IdleTimeout ends a connection after this long (in capture time)
	// without a packet. Default 1h.
	IdleTimeout time.Duration
	// MaxConns bounds the connections followed at once; beyond it the
	// least recently active one is ended. Default 16384.
	MaxConns int
	// OnClose, when set, is told when a decoded connection ends, after
	// its last event, with the client address and server connection id
	// its events carry (stats.Engine.ObserveCloseWait fits).
	OnClose func(clientAddr string, connID uint32, at time.Time)
}

// Defaults of Config.
const (
	DefaultPort             = 3306
	DefaultMaxBufferedBytes = 1 << 20
	DefaultIdleTimeout      = time.Hour
	DefaultMaxConns         = 16384
)

func (c Config) withDefaults() Config {
	if len(c.Ports) == 0 {
		c.Ports = []uint16{DefaultPort}
	}
	if c.MaxBufferedBytes <= 0 {
		c.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	return c
}

// Stats counts what an Analyzer read.
type Stats struct {
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`   // capture file bytes read
	Packets uint64 `json:"packets"` // packet records read
	// Other counts packets that are not TCP over IPv4/IPv6 on a server
	// flow: other protocols, other ports, IP fragments, unknown link types.
	Other uint64 `json:"other"`
	// Flows counts the TCP connections to a server seen.
	Flows uint64 `json:"flows"`
	// MySQLConns counts the connections decoded, from the greeting or
	// from a command boundary; Midstream counts those joined mid-stream,
	// whose user, capabilities and earlier prepared statements were not
	// known.
	MySQLConns uint64 `json:"mysql_conns"`
	Midstream  uint64 `json:"midstream"`
	// TLSConns counts the connections that use TLS: counted, not decoded.
	TLSConns uint64 `json:"tls_conns"`
	// Gaps counts the holes in a direction's bytes (lost or truncated
	// packets); Desyncs the sessions that lost track (after a gap or on
	// traffic the decoder could not follow), each resumed at the next
	// command boundary.
	Gaps    uint64 `json:"gaps"`
	Desyncs uint64 `json:"desyncs"`
	// Retransmits counts segments whose bytes had all been delivered.
	Retransmits uint64 `json:"retransmits"`
	// Events counts the events handed to the handler.
	Events uint64 `json:"events"`
	// First and Last are the timestamps of the first and the latest packet.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// Analyzer reads captures and feeds the MySQL connections in them to
// protocol sessions. Create it with New; see the package documentation.
type Analyzer struct {
	cfg    Config
	handle func(*protocol.Event)
	dec    *decoder

	conns     map[connKey]*conn
	lru       connList
	sweepAt   time.Time
	probeHeld int // bytes held by probing connections

	mu    sync.Mutex // guards stats
	stats Stats

	bytes atomic.Int64
	now   atomic.Int64 // unix nanoseconds of the latest packet
}

// New returns an Analyzer that passes every event to handle.
func New(cfg Config, handle func(*protocol.Event)) *Analyzer {
	return &Analyzer{
		cfg:    cfg.withDefaults(),
		handle: handle,
		dec:    newDecoder(),
		conns:  make(map[connKey]*conn),
	}
}

// Now returns the timestamp of the latest packet read, or the zero time.
// It is safe for concurrent use: a stats.Engine's Config.Now.
func (a *Analyzer) Now() time.Time {
	n := a.now.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// BytesRead returns the capture bytes read so far; safe for concurrent use.
func (a *Analyzer) BytesRead() int64 { return a.bytes.Load() }

// Stats returns the counts so far; safe for concurrent use.
func (a *Analyzer) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	s.Bytes = a.bytes.Load()
	return s
}

// count applies f to the stats under the lock.
func (a *Analyzer) count(f func(*Stats)) {
	a.mu.Lock()
	f(&a.stats)
	a.mu.Unlock()
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Read analyses one capture file (pcap, gzipped pcap or pcapng) read from
// r. Connections stay open across calls, so the files of a rotated capture
// can be read one after the other; call Close after the last. It returns
// an error wrapping ErrNotCapture for other input, and one wrapping
// ErrTruncated when the file ends inside a packet (the packets before it
// are analysed). It stops early, returning ctx.Err(), when ctx ends.
func (a *Analyzer) Read(ctx context.Context, r io.Reader) error {
	src, err := openSource(countingReader{r: r, n: &a.bytes})
	if err != nil {
		return err
	}
	a.count(func(s *Stats) { s.Files++ })
	var p tcpPacket
	var packets uint64
	for {
		if packets&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		data, ci, link, err := src.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w after %d packets: the last packet record is cut short", ErrTruncated, packets)
			}
			return fmt.Errorf("after %d packets: %w", packets, err)
		}
		packets++
		a.packet(data, ci, link, &p)
	}
}
