package proxy_test

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // mysql_native_password is defined over SHA-1
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/proxy"
)

// checkLeaks fails the test if goroutines started during it outlive it.
// Call it first (after testdb.Require, whose server outlives tests): its
// cleanup then runs last, after the proxies and servers are closed.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// observed is a proxy whose logs and metrics the test can read.
type observed struct {
	srv  *proxy.Server
	addr string
	logs *observer.ObservedLogs
	reg  *prometheus.Registry
}

// proxyOpts tune startObserved. The zero value is fine.
type proxyOpts struct {
	config   func(*proxy.Config)
	listener net.Listener // default: a fresh loopback listener
	quiet    bool         // do not copy logs to the test output
	sink     proxy.Sink   // default: none
	infoOnly bool         // observe info and above; default: debug too
}

// startObserved serves a proxy to upstream and closes it at the end of the
// test, checking that Serve then returns ErrServerClosed.
func startObserved(t *testing.T, upstream string, o proxyOpts) *observed {
	t.Helper()
	l := o.listener
	if l == nil {
		var err error
		l, err = net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
	}
	cfg := testConfig()
	cfg.Upstream = upstream
	cfg.DialTimeout = 2 * time.Second
	if o.config != nil {
		o.config(&cfg)
	}
	level := zapcore.DebugLevel
	if o.infoOnly {
		level = zapcore.InfoLevel
	}
	core, logs := observer.New(level)
	log := zap.New(core)
	if !o.quiet {
		log = zaptest.NewLogger(t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return zapcore.NewTee(c, core)
		})))
	}
	reg := prometheus.NewRegistry()
	srv, err := proxy.New(cfg, o.sink, log, proxy.NewMetrics(reg))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, proxy.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return &observed{srv: srv, addr: l.Addr().String(), logs: logs, reg: reg}
}

// metric returns the value of the counter or gauge name whose labels
// include the given name=value pairs (0 when there is no such series).
func (o *observed) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := o.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// waitIdle waits until the proxy serves no connection.
func (o *observed) waitIdle(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return o.srv.OpenConns() == 0 }, 15*time.Second, 10*time.Millisecond,
		"every connection should be closed; %d still open", o.srv.OpenConns())
}

// noErrorLogs fails the test when the proxy logged at error level (panics,
// failed invariants): faults must end as clean closes.
func (o *observed) noErrorLogs(t *testing.T) {
	t.Helper()
	for _, e := range o.logs.FilterLevelExact(zapcore.ErrorLevel).All() {
		t.Errorf("unexpected error log: %s %v", e.Message, e.ContextMap())
	}
}

// rawClient is a minimal MySQL client over a plain socket: enough to log
// in with mysql_native_password and read results packet by packet, with
// full control over the socket (half-closes, slow reads, vanishing).
type rawClient struct {
	nc  *net.TCPConn
	hdr [4]byte
}

// Capabilities the raw client asks for: PROTOCOL_41, SECURE_CONNECTION,
// PLUGIN_AUTH, LONG_PASSWORD, TRANSACTIONS, CONNECT_WITH_DB. No
// DEPRECATE_EOF, so results end with an EOF packet.
const rawCaps = 0x200 | 0x8000 | 0x80000 | 0x1 | 0x2000 | 0x8

// dialRaw connects to addr and logs in as the test user, in the test schema.
func dialRaw(addr string) (*rawClient, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &rawClient{nc: nc.(*net.TCPConn)}
	if err := c.login(); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *rawClient) login() error {
	_ = c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.nc.SetDeadline(time.Time{}) //nolint:errcheck // best effort
	g, _, err := c.readPacket()
	if err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	scramble, err := greetingScramble(g)
	if err != nil {
		return err
	}
	p := binary.LittleEndian.AppendUint32(nil, rawCaps)
	p = binary.LittleEndian.AppendUint32(p, 1<<24)
	p = append(p, 45) // utf8mb4_general_ci
	p = append(p, make([]byte, 23)...)
	p = append(append(p, testdb.User...), 0)
	auth := nativePassword(scramble, testdb.Password)
	p = append(append(p, byte(len(auth))), auth...)
	p = append(append(p, testdb.Schema...), 0)
	p = append(append(p, "mysql_native_password"...), 0)
	if err := c.writePacket(1, p); err != nil {
		return err
	}
	ok, _, err := c.readPacket()
	if err != nil {
		return fmt.Errorf("read login answer: %w", err)
	}
	if len(ok) == 0 || ok[0] != 0 {
		return fmt.Errorf("login refused: %q", ok)
	}
	return nil
}

// greetingScramble extracts the 20-byte scramble of a HandshakeV10.
func greetingScramble(g []byte) ([]byte, error) {
	if len(g) < 2 || g[0] != 10 || bytes.IndexByte(g[1:], 0) < 0 {
		return nil, fmt.Errorf("not a HandshakeV10 greeting: %q", g)
	}
	i := bytes.IndexByte(g[1:], 0)
	pos := 1 + i + 1 + 4 // version, NUL, connection id
	if len(g) < pos+8+1+2+1+2+2+1+10+12 {
		return nil, fmt.Errorf("short greeting of %d bytes", len(g))
	}
	part1 := g[pos : pos+8]
	pos += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
	return append(bytes.Clone(part1), g[pos:pos+12]...), nil
}

// nativePassword is SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))).
func nativePassword(scramble []byte, password string) []byte {
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	h3 := sha1.Sum(append(bytes.Clone(scramble), h2[:]...))
	for i := range h1 {
		h1[i] ^= h3[i]
	}
	return h1[:]
}

func (c *rawClient) writePacket(seq byte, payload []byte) error {
	pkt := append([]byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}, payload...)
	_, err := c.nc.Write(pkt)
	return err
}

// readPacket reads one packet's payload (the returned slice is fresh).
func (c *rawClient) readPacket() ([]byte, byte, error) {
	if _, err := io.ReadFull(c.nc, c.hdr[:]); err != nil {
		return nil, 0, err
	}
	n := int(c.hdr[0]) | int(c.hdr[1])<<8 | int(c.hdr[2])<<16
	p := make([]byte, n)
	_, err := io.ReadFull(c.nc, p)
	return p, c.hdr[3], err
}

// skipPacket reads one packet and returns its length and first byte
// without keeping the payload, so large rows cost no memory.
func (c *rawClient) skipPacket() (int, byte, error) {
	if _, err := io.ReadFull(c.nc, c.hdr[:]); err != nil {
		return 0, 0, err
	}
	n := int(c.hdr[0]) | int(c.hdr[1])<<8 | int(c.hdr[2])<<16
	var first [1]byte
	if n > 0 {
		if _, err := io.ReadFull(c.nc, first[:]); err != nil {
			return 0, 0, err
		}
	}
	if n > 1 {
		if _, err := io.CopyN(io.Discard, c.nc, int64(n-1)); err != nil {
			return 0, 0, err
		}
	}
	return n, first[0], nil
}

// sendQuery writes a COM_QUERY.
func (c *rawClient) sendQuery(sql string) error {
	return c.writePacket(0, append([]byte{3}, sql...))
}

// resultHead reads a result set's column count, definitions and EOF, and
// returns the column count.
func (c *rawClient) resultHead() (int, error) {
	p, _, err := c.readPacket()
	if err != nil {
		return 0, err
	}
	if len(p) > 0 && p[0] == 0xff {
		return 0, fmt.Errorf("server error %d: %s", binary.LittleEndian.Uint16(p[1:]), p[3:])
	}
	if len(p) == 0 || p[0] == 0 || p[0] >= 0xfb {
		return 0, fmt.Errorf("not a result set: %q", p)
	}
	cols := int(p[0])
	for range cols + 1 { // definitions, then EOF
		if _, _, err := c.skipPacket(); err != nil {
			return 0, err
		}
	}
	return cols, nil
}

// isEOF reports whether a packet of length n starting with first ends a
// result (0xFE with fewer than 9 bytes; a longer one is a row).
func isEOF(n int, first byte) bool { return first == 0xfe && n < 9 }

// query runs sql and returns its rows' first column as text (for short
// results).
func (c *rawClient) query(sql string) ([]string, error) {
	if err := c.sendQuery(sql); err != nil {
		return nil, err
	}
	if _, err := c.resultHead(); err != nil {
		return nil, err
	}
	var out []string
	for {
		p, _, err := c.readPacket()
		if err != nil {
			return nil, err
		}
		if isEOF(len(p), p[0]) {
			return out, nil
		}
		if p[0] == 0xff {
			return nil, fmt.Errorf("server error %d mid-result", binary.LittleEndian.Uint16(p[1:]))
		}
		if p[0] < 0xfb && int(p[0]) < len(p) {
			out = append(out, string(p[1:1+int(p[0])]))
		} else {
			out = append(out, "")
		}
	}
}

// quit sends COM_QUIT and closes the socket.
func (c *rawClient) quit() {
	_ = c.writePacket(0, []byte{1})
	_ = c.nc.Close()
}

// stallingUpstream accepts connections, writes prefix (maybe nothing) and
// then holds them silently until the test ends: a server stuck in its
// handshake.
func stallingUpstream(t *testing.T, prefix []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			_, _ = c.Write(prefix)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// blackhole returns a loopback address where connecting hangs until the
// dialer's timeout: a listener with a backlog of 0 that never accepts,
// whose accept queue is filled first. Linux then drops further SYNs (with
// tcp_abort_on_overflow at its default 0), as a firewall dropping packets
// would, so no root-only trick is needed.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, syscall.Listen(fd, 0))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the accept queue: connections complete until it is full, then
	// the next dial times out. Keep the completed ones open.
	for i := 0; ; i++ {
		require.Less(t, i, 16, "the accept queue never filled up")
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			require.True(t, errors.As(err, &ne) && ne.Timeout(), "want a timeout once the queue is full, got %v", err)
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
}

// router is a TCP forwarder whose target can change between connections:
// it lets one proxy reach two servers (each client connection keeps the
// server it was routed to).
type router struct {
	l      net.Listener
	target atomic.Pointer[string]
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func startRouter(t *testing.T, target string) *router {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &router{l: l, conns: map[net.Conn]struct{}{}}
	r.target.Store(&target)
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(func() {
		l.Close()
		r.mu.Lock()
		for c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

func (r *router) addr() string          { return r.l.Addr().String() }
func (r *router) routeTo(target string) { r.target.Store(&target) }

func (r *router) track(c net.Conn) {
	r.mu.Lock()
	r.conns[c] = struct{}{}
	r.mu.Unlock()
}

func (r *router) accept() {
	defer r.wg.Done()
	for {
		c, err := r.l.Accept()
		if err != nil {
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer c.Close()
			r.track(c)
			s, err := net.Dial("tcp", *r.target.Load())
			if err != nil {
				return
			}
			defer s.Close()
			r.track(s)
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(s, c); _ = s.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, s); _ = c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			<-done
			// One side ended: a dead server must not leave the client
			// waiting on the other copy.
			c.Close()
			s.Close()
			<-done
		}()
	}
}

// throwawayServer starts a server of the test's own, to be killed, and
// stops it at the end of the test.
func throwawayServer(t *testing.T, args ...string) *testdb.Server {
	t.Helper()
	srv, err := testdb.Start(testdb.Options{Args: args})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

// killServer kills a throwaway server with SIGKILL, by the pid it wrote:
// a crash, with no chance to say goodbye to its clients.
func killServer(t *testing.T, srv *testdb.Server) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.Dir, "mariadbd.pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
}
