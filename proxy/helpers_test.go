package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/proxy"
)

// TestMain runs the tests against throwaway servers, then fails the run if
// any goroutine outlives them: every connection, pump and accept loop must
// end once its test has closed its proxy.
func TestMain(m *testing.M) {
	code := testdb.RunMain(m)
	if tlsServer != nil {
		_ = tlsServer.Stop()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// eventSink collects events without ever blocking.
type eventSink struct {
	mu     sync.Mutex
	events []*protocol.Event
}

func (s *eventSink) Observe(ev *protocol.Event) {
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
}

func (s *eventSink) all() []*protocol.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*protocol.Event(nil), s.events...)
}

// startProxy serves a proxy to upstream on a loopback port (or on the
// given listener) and shuts it down at the end of the test.
func startProxy(t testing.TB, upstream string, sink proxy.Sink) (*proxy.Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return serveOn(t, l, upstream, sink), l.Addr().String()
}

func serveOn(t testing.TB, l net.Listener, upstream string, sink proxy.Sink) *proxy.Server {
	t.Helper()
	cfg := testConfig()
	cfg.Upstream = upstream
	cfg.DialTimeout = 2 * time.Second
	var log = zaptest.NewLogger(t)
	srv, err := proxy.New(cfg, sink, log, nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		err := <-done
		if !errors.Is(err, proxy.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv
}

// recorder accumulates every byte read and written through conns it wraps.
type recorder struct {
	mu      sync.Mutex
	read    bytes.Buffer // bytes this side received
	written bytes.Buffer // bytes this side sent
}

type recConn struct {
	net.Conn
	rec *recorder
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.rec.mu.Lock()
	c.rec.read.Write(p[:n])
	c.rec.mu.Unlock()
	return n, err
}

func (c *recConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.rec.mu.Lock()
	c.rec.written.Write(p[:n])
	c.rec.mu.Unlock()
	return n, err
}

func (r *recorder) snapshot() (read, written []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.read.Bytes()), bytes.Clone(r.written.Bytes())
}

var dialerSeq atomic.Int64

// recordingDSN registers a go-sql-driver dial function that records the
// client's view of the wire and returns a DSN that uses it.
func recordingDSN(t testing.TB, srv *testdb.Server, addr string, rec *recorder) string {
	t.Helper()
	name := "rec" + string(rune('a'+dialerSeq.Add(1)%26)) + time.Now().Format("150405.000000000")
	mysql.RegisterDialContext(name, func(ctx context.Context, a string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", a)
		if err != nil {
			return nil, err
		}
		return &recConn{Conn: c, rec: rec}, nil
	})
	cfg, err := mysql.ParseDSN(srv.DSN(addr, testdb.Schema))
	require.NoError(t, err)
	cfg.Net = name
	cfg.InterpolateParams = true
	return cfg.FormatDSN()
}

// tap is a recording TCP relay placed between the proxy and the server: it
// records exactly what the proxy sent upstream and what the server sent.
type tap struct {
	l        net.Listener
	upstream string
	rec      recorder // read = from server, written = to server
	wg       sync.WaitGroup
}

func startTap(t testing.TB, upstream string) *tap {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tp := &tap{l: l, upstream: upstream}
	go tp.accept()
	t.Cleanup(func() { l.Close(); tp.wg.Wait() })
	return tp
}

func (tp *tap) addr() string { return tp.l.Addr().String() }

func (tp *tap) accept() {
	for {
		c, err := tp.l.Accept()
		if err != nil {
			return
		}
		tp.wg.Add(1)
		go func() {
			defer tp.wg.Done()
			defer c.Close()
			s, err := net.Dial("tcp", tp.upstream)
			if err != nil {
				return
			}
			rs := &recConn{Conn: s, rec: &tp.rec}
			defer rs.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(rs, c); rs.Conn.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { io.Copy(c, rs); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

// testConfig is proxy.DefaultConfig, relaying with pumps instead of event
// loops when QUERYLENS_TEST_RELAY=pumps, and with event loops that wait
// with epoll instead of io_uring when QUERYLENS_TEST_RELAY=epoll (.ci/run
// runs the package's tests all three ways).
func testConfig() proxy.Config {
	cfg := proxy.DefaultConfig()
	cfg.Pumps = testRelayPumps()
	cfg.Epoll = testRelayEpoll()
	return cfg
}

// testRelayEpoll reports whether the event loops wait with epoll
// (QUERYLENS_TEST_RELAY=epoll).
func testRelayEpoll() bool { return os.Getenv("QUERYLENS_TEST_RELAY") == "epoll" }

// testRelayPumps reports whether the tests run with the pumps instead of the
// event loops (QUERYLENS_TEST_RELAY=pumps).
func testRelayPumps() bool { return os.Getenv("QUERYLENS_TEST_RELAY") == "pumps" }
