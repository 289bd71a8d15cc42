package proxy_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/proxy"
)

// chanSink does what stats.Engine.Observe does: a non-blocking send into
// a bounded channel drained by a goroutine of its own. Handing an event
// over can wake that goroutine, which is what BenchmarkRelaySink measures.
type chanSink struct {
	ch chan *protocol.Event
}

func newChanSink(b *testing.B) *chanSink {
	s := &chanSink{ch: make(chan *protocol.Event, 4096)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range s.ch {
		}
	}()
	b.Cleanup(func() { close(s.ch); <-done })
	return s
}

func (s *chanSink) Observe(ev *protocol.Event) {
	select {
	case s.ch <- ev:
	default:
	}
}

// BenchmarkRelaySink is BenchmarkRelay's one-row round trip through
// querylens with a sink that, like the statistics engine, hands events to
// another goroutine.
func BenchmarkRelaySink(b *testing.B) {
	resp := benchResult(1)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	cfg := testConfig()
	cfg.Upstream = fakeServer(b, resp)
	srv, err := proxy.New(cfg, newChanSink(b), zap.NewNop(), nil)
	require.NoError(b, err)
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	roundTrips(b, l.Addr().String(), len(resp))
}
