package proxy_test

import (
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/proxy"
)

// Wire pieces of a minimal MySQL 8-style session (PROTOCOL_41,
// SECURE_CONNECTION, PLUGIN_AUTH(_LENENC), DEPRECATE_EOF) used by the
// in-process benchmarks.
const benchCaps = 0x1 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000 | 0x200000 | 0x1000000

func packet(seq byte, payload ...byte) []byte {
	h := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}
	return append(h, payload...)
}

func benchGreeting() []byte {
	p := []byte{10}
	p = append(p, "8.0.40-bench\x00"...)
	p = binary.LittleEndian.AppendUint32(p, 7)
	p = append(p, "abcdefgh"...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint16(p, uint16(benchCaps&0xffff))
	p = append(p, 255)
	p = binary.LittleEndian.AppendUint16(p, 2)
	p = binary.LittleEndian.AppendUint16(p, uint16(benchCaps>>16))
	p = append(p, 21)
	p = append(p, make([]byte, 10)...)
	p = append(p, "ijklmnopqrst\x00"...)
	p = append(p, "mysql_native_password\x00"...)
	return packet(0, p...)
}

func benchHandshakeResponse() []byte {
	p := binary.LittleEndian.AppendUint32(nil, benchCaps)
	p = binary.LittleEndian.AppendUint32(p, 1<<24)
	p = append(p, 255)
	p = append(p, make([]byte, 23)...)
	p = append(p, "bench\x00"...)
	p = append(p, 20)
	p = append(p, make([]byte, 20)...)
	p = append(p, "mysql_native_password\x00"...)
	return packet(1, p...)
}

var (
	benchAuthOK = packet(2, 0, 0, 0, 2, 0, 0, 0)
	benchQuery  = packet(0, append([]byte{3}, "SELECT id, name FROM users WHERE id = 42"...)...)
)

func coldef(seq byte, name string) []byte {
	var p []byte
	for _, s := range []string{"def", "bench", "users", "users", name, name} {
		p = append(p, byte(len(s)))
		p = append(p, s...)
	}
	p = append(p, 0x0c, 0x21, 0, 0, 1, 0, 0, 0xfd, 0, 0, 0, 0, 0)
	return packet(seq, p...)
}

// benchResult is a two-column text result with rows rows.
func benchResult(rows int) []byte {
	out := packet(1, 2)
	out = append(out, coldef(2, "id")...)
	out = append(out, coldef(3, "name")...)
	seq := byte(4)
	for i := range rows {
		out = append(out, packet(seq, 2, '4', '2', 10, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', byte('0'+i%10))...)
		seq++
	}
	return append(out, packet(seq, 0xfe, 0, 0, 2, 0, 0, 0)...)
}

// fakeServer answers the handshake, then replies resp to every packet it
// reads, forever.
func fakeServer(b testing.TB, resp []byte) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	b.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := c.Write(benchGreeting()); err != nil {
					return
				}
				if _, err := io.ReadFull(c, make([]byte, len(benchHandshakeResponse()))); err != nil {
					return
				}
				if _, err := c.Write(benchAuthOK); err != nil {
					return
				}
				req := make([]byte, len(benchQuery))
				for {
					if _, err := io.ReadFull(c, req); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// plainRelay is the baseline: two io.Copy calls per connection, nothing
// decoded.
func plainRelay(b *testing.B, upstream string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	b.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer s.Close()
				go io.Copy(s, c)
				io.Copy(c, s)
			}()
		}
	}()
	return l.Addr().String()
}

type countSink struct{ n int }

// Observe counts ev and gives it back, as the daemon's statistics engine
// does once it has applied an event.
func (s *countSink) Observe(ev *protocol.Event) {
	s.n++
	ev.Release()
}

func querylensRelay(b testing.TB, upstream string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	cfg := testConfig()
	cfg.Upstream = upstream
	srv, err := proxy.New(cfg, &countSink{}, zap.NewNop(), nil)
	require.NoError(b, err)
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// roundTrips runs b.N query round trips over one connection to addr.
func roundTrips(b *testing.B, addr string, respLen int) {
	c, err := net.Dial("tcp", addr)
	require.NoError(b, err)
	defer c.Close()
	_, err = io.ReadFull(c, make([]byte, len(benchGreeting())))
	require.NoError(b, err)
	_, err = c.Write(benchHandshakeResponse())
	require.NoError(b, err)
	_, err = io.ReadFull(c, make([]byte, len(benchAuthOK)))
	require.NoError(b, err)
	resp := make([]byte, respLen)
	b.SetBytes(int64(respLen + len(benchQuery)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(benchQuery); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelay compares a querylens relay (decoding every packet) with a
// plain io.Copy relay and a direct connection, for a small result (one row:
// latency-bound) and a large one (5000 rows: throughput-bound).
// Allocations are those of the whole process per round trip.
func BenchmarkRelay(b *testing.B) {
	for _, size := range []struct {
		name string
		rows int
	}{{"1row", 1}, {"5000rows", 5000}} {
		resp := benchResult(size.rows)
		b.Run(size.name+"/direct", func(b *testing.B) {
			roundTrips(b, fakeServer(b, resp), len(resp))
		})
		b.Run(size.name+"/iocopy", func(b *testing.B) {
			roundTrips(b, plainRelay(b, fakeServer(b, resp)), len(resp))
		})
		b.Run(size.name+"/querylens", func(b *testing.B) {
			roundTrips(b, querylensRelay(b, fakeServer(b, resp)), len(resp))
		})
	}
}
