package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/querylens/querylens/protocol"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("proxy: server closed")

// Sink receives decoded events. Observe must not block: it is called from
// the relay goroutines. The sink owns each event it is given (the relay
// keeps no reference): it may give it back with protocol.(*Event).Release.
type Sink interface {
	Observe(*protocol.Event)
}

// Config holds the relay settings. The zero value of every field but
// Upstream means its default.
type Config struct {
	// Upstream is the server address: "host:port", or "unix:/path" (a bare
	// absolute path also means a unix socket).
	Upstream string
	// DialTimeout bounds connecting to the upstream. Default 5s.
	DialTimeout time.Duration
	// BufferSize is the size of each pump's read buffer. Default 32 KiB.
	BufferSize int
	// MaxSQLBytes caps the statement text copied into events. Default 64 KiB.
	MaxSQLBytes int
	// HandshakeTimeout bounds the part of the login the proxy takes part in
	// (greeting, SSLRequest, both TLS handshakes). Default 15s.
	HandshakeTimeout time.Duration
	// MaxConnections caps the client connections served at once. A client
	// beyond it is answered like mysqld answers one beyond max_connections:
	// error 1040, SQLSTATE 08004, "Too many connections". 0 means no cap:
	// each client connection is one upstream connection, so the server's
	// own max_connections already applies (and its refusal is relayed).
	MaxConnections int

	// Pumps relays every connection with two goroutines of its own (one
	// per direction) instead of the event loops. TLS connections and
	// systems other than Linux always use pumps.
	Pumps bool
	// EventLoops is how many event loops relay connections; 0 means as
	// many as GOMAXPROCS. Each loop adds one to GOMAXPROCS while it runs:
	// a busy loop holds a P as it waits. Setting GOMAXPROCS ends the
	// runtime's own updates of it from the container's CPU limit.
	EventLoops int
	// Epoll makes the event loops wait with epoll and relay with recv and
	// send, a system call per chunk each way, instead of through an
	// io_uring (Linux 6.1 or later, where no seccomp profile or sysctl
	// forbids it), which submits a batch's sends and receives in one
	// call. Loops fall back to epoll by themselves where io_uring is not
	// usable.
	Epoll bool

	// ClientTLS, when set, is offered to clients (CLIENT_SSL stays in the
	// greeting) whenever the upstream offers TLS too; nil hides CLIENT_SSL
	// so clients use plaintext.
	ClientTLS *tls.Config
	// UpstreamTLSMode and UpstreamTLS govern the upstream leg, which uses
	// TLS exactly when the client leg does. UpstreamTLS nil means an
	// unverified configuration for the upstream's host.
	UpstreamTLSMode UpstreamTLSMode
	UpstreamTLS     *tls.Config
}

// DefaultConfig returns the defaults for everything but Upstream.
func DefaultConfig() Config {
	return Config{DialTimeout: 5 * time.Second, BufferSize: 32 << 10, MaxSQLBytes: 64 << 10, HandshakeTimeout: 15 * time.Second}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	if c.Upstream == "" {
		return errors.New("upstream address is empty")
	}
	if _, _, err := SplitAddr(c.Upstream); err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	if c.DialTimeout < 0 || c.BufferSize < 0 || c.MaxSQLBytes < 0 || c.HandshakeTimeout < 0 {
		return errors.New("negative timeout, buffer size or SQL cap")
	}
	if c.MaxConnections < 0 {
		return errors.New("negative connection limit")
	}
	if c.UpstreamTLSMode.String() == "unknown" {
		return fmt.Errorf("unknown upstream TLS mode %d", c.UpstreamTLSMode)
	}
	return nil
}

func (c *Config) fill() {
	d := DefaultConfig()
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.BufferSize == 0 {
		c.BufferSize = d.BufferSize
	}
	if c.MaxSQLBytes == 0 {
		c.MaxSQLBytes = d.MaxSQLBytes
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	if c.UpstreamTLS == nil {
		c.UpstreamTLS, _ = UpstreamTLSConfig(UpstreamTLSPreferred, c.Upstream, "", "")
	}
}

// SplitAddr turns "unix:/path", "/path" or "host:port" into a network and
// address for net.Dial or net.Listen.
func SplitAddr(addr string) (network, address string, err error) {
	switch {
	case strings.HasPrefix(addr, "unix:"):
		p := strings.TrimPrefix(addr, "unix:")
		if p == "" {
			return "", "", fmt.Errorf("%q: empty unix socket path", addr)
		}
		return "unix", p, nil
	case strings.HasPrefix(addr, "/"):
		return "unix", addr, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", "", fmt.Errorf("%q: want host:port or unix:/path", addr)
	}
	return "tcp", addr, nil
}

// Listen opens a listener for "host:port" or "unix:/path". A stale unix
// socket file left by a previous run is removed first, but only if nothing
// answers on it.
func Listen(addr string) (net.Listener, error) {
	network, address, err := SplitAddr(addr)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if c, err := net.DialTimeout("unix", address, 100*time.Millisecond); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen %s: another process is serving on it", addr)
		}
		if err := os.Remove(address); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		}
	}
	return net.Listen(network, address)
}

// Server relays client connections to the upstream.
type Server struct {
	cfg     Config
	sink    Sink
	log     *zap.Logger
	metrics *Metrics
	dialer  net.Dialer

	nextID     atomic.Uint64
	inShutdown atomic.Bool
	tlsPolicy  atomic.Int32  // last logged upstream TLS situation, see noteTLS
	quit       chan struct{} // closed by Shutdown and Close; wakes backing-off accept loops
	quitOnce   sync.Once

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	rejecting map[net.Conn]struct{} // clients being told "Too many connections"
	serving   sync.WaitGroup        // accept loops
	handlers  sync.WaitGroup        // connection and rejection goroutines

	loops loopPool // event loops, started with the first connection that uses them
}

// maxRejecting bounds the goroutines answering clients over
// Config.MaxConnections; beyond it, such clients are simply closed, so a
// flood of connections costs a bounded amount of memory.
const maxRejecting = 64

// rejectTimeout bounds the exchange with a client being refused.
const rejectTimeout = 5 * time.Second

// New returns a Server. sink and metrics may be nil.
func New(cfg Config, sink Sink, log *zap.Logger, metrics *Metrics) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fill()
	if log == nil {
		log = zap.NewNop()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Server{
		cfg:       cfg,
		sink:      sink,
		log:       log,
		metrics:   metrics,
		dialer:    net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second},
		quit:      make(chan struct{}),
		listeners: make(map[*net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		rejecting: make(map[net.Conn]struct{}),
	}, nil
}

// Serve accepts connections on l until Shutdown or Close, and always returns
// a non-nil error: ErrServerClosed after those. Temporary accept errors (such
// as running out of file descriptors) are backed off from 5ms up to 1s, as
// net/http does; they are counted, and logged on the 1st, 2nd, 4th, 8th...
// error in a row and at least once a minute while they last, so a
// persistent error cannot flood the log.
func (s *Server) Serve(l net.Listener) error {
	if !s.trackListener(&l, true) {
		l.Close()
		return ErrServerClosed
	}
	defer s.trackListener(&l, false)
	var (
		delay    time.Duration
		failures int // accept errors in a row
		lastLog  time.Time
	)
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			s.metrics.acceptErrors.Inc()
			failures++
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			if failures&(failures-1) == 0 || time.Since(lastLog) >= time.Minute {
				lastLog = time.Now()
				s.log.Warn("accept failed; backing off", zap.String("listen", l.Addr().String()),
					zap.Error(err), zap.Int("failures_in_a_row", failures), zap.Duration("delay", delay))
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.quit:
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		if failures > 0 {
			s.log.Info("accepting again", zap.String("listen", l.Addr().String()), zap.Int("failures_in_a_row", failures))
			failures = 0
		}
		delay = 0
		c := s.newConn(nc)
		switch s.trackConn(c, true) {
		case admitClosed:
			nc.Close()
			return ErrServerClosed
		case admitFull:
			s.reject(nc, c.id)
			continue
		}
		s.handlers.Add(1)
		go func() {
			defer s.handlers.Done()
			c.serve()
		}()
	}
}

// reject answers a client over Config.MaxConnections with error 1040 on a
// goroutine of its own, so the accept loop keeps going.
func (s *Server) reject(nc net.Conn, id uint64) {
	s.metrics.rejected.WithLabelValues(rejectMaxConnections).Inc()
	s.mu.Lock()
	if len(s.rejecting) >= maxRejecting || s.inShutdown.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.rejecting[nc] = struct{}{}
	s.handlers.Add(1)
	s.mu.Unlock()
	if ce := s.log.Check(zap.DebugLevel, "too many connections; refusing a client"); ce != nil {
		ce.Write(zap.String("client", nc.RemoteAddr().String()), zap.Int("max_connections", s.cfg.MaxConnections))
	}
	go func() {
		defer s.handlers.Done()
		defer func() {
			s.mu.Lock()
			delete(s.rejecting, nc)
			s.mu.Unlock()
			nc.Close()
		}()
		_ = nc.SetDeadline(time.Now().Add(rejectTimeout))
		refuseLogin(nc, uint32(id), errCodeTooManyConnections, sqlStateTooManyConnections, "Too many connections")
	}()
}

// admission is trackConn's answer to a new connection.
type admission int

const (
	admitted    admission = iota
	admitClosed           // the server is shutting down
	admitFull             // Config.MaxConnections reached
)

func (s *Server) trackListener(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.inShutdown.Load() {
			return false
		}
		s.listeners[l] = struct{}{}
		s.serving.Add(1)
		return true
	}
	delete(s.listeners, l)
	s.serving.Done()
	return true
}

// trackConn adds c to the served connections (add) or removes it.
func (s *Server) trackConn(c *conn, add bool) admission {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.inShutdown.Load() {
			return admitClosed
		}
		if s.cfg.MaxConnections > 0 && len(s.conns) >= s.cfg.MaxConnections {
			return admitFull
		}
		s.conns[c] = struct{}{}
		s.metrics.connsOpen.Inc()
		s.metrics.connsTotal.Inc()
		return admitted
	}
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.metrics.connsOpen.Dec()
	}
	return admitted
}

// closeListeners stops accepting: it closes the listeners, wakes accept
// loops that are backing off, and closes clients being refused.
func (s *Server) closeListeners() {
	s.quitOnce.Do(func() { close(s.quit) })
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		(*l).Close()
	}
	for nc := range s.rejecting {
		nc.Close()
	}
}

// Shutdown stops accepting, then closes each connection once it is idle (no
// command in flight), until none is left or ctx ends; connections still busy
// then are closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	s.closeListeners()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		if s.OpenConns() == 0 {
			s.serving.Wait()
			s.handlers.Wait()
			s.loops.stopAll()
			return nil
		}
		select {
		case <-ctx.Done():
			s.closeAll()
			s.serving.Wait()
			s.handlers.Wait()
			s.loops.stopAll()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes all listeners and connections at once and returns when
// their goroutines have ended.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.closeListeners()
	s.closeAll()
	s.serving.Wait()
	s.handlers.Wait()
	s.loops.stopAll()
	return nil
}

// attach hands c to an event loop unless Config.Pumps says not to; nil
// means c is relayed by pumps.
func (s *Server) attach(c *conn, errc chan<- error) *loopConn {
	if s.cfg.Pumps {
		return nil
	}
	return s.loops.attach(c, errc)
}

// closeIdle closes idle connections and returns how many remain busy.
func (s *Server) closeIdle() int {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	left := 0
	for _, c := range conns {
		if !c.closeIfIdle() {
			left++
		}
	}
	return left
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.closeNow()
	}
}

// OpenConns returns the number of client connections being served.
func (s *Server) OpenConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Upstream TLS situations logged by noteTLS.
const (
	tlsUnknown int32 = iota
	tlsBothLegs
	tlsServerWithout
	tlsNotOffered
)

// noteTLS logs the TLS behaviour once per change of the upstream's
// situation, so an operator learns what clients get without a line per
// connection.
func (s *Server) noteTLS(serverOffers, offered bool) {
	state := tlsBothLegs
	switch {
	case s.cfg.ClientTLS == nil || s.cfg.UpstreamTLSMode == UpstreamTLSDisabled:
		state = tlsNotOffered // by configuration, whatever the server offers
	case !serverOffers:
		state = tlsServerWithout
	case !offered:
		state = tlsNotOffered
	}
	if s.tlsPolicy.Swap(state) == state {
		return
	}
	switch state {
	case tlsBothLegs:
		s.log.Info("upstream offers TLS: clients that ask for TLS get it on both legs, plaintext clients stay plaintext on both",
			zap.String("upstream", s.cfg.Upstream), zap.Stringer("upstream_tls", s.cfg.UpstreamTLSMode))
	case tlsServerWithout:
		s.log.Warn("upstream does not offer TLS: TLS is not offered to clients either (one plaintext leg would break caching_sha2_password full authentication)",
			zap.String("upstream", s.cfg.Upstream), zap.Stringer("upstream_tls", s.cfg.UpstreamTLSMode))
	case tlsNotOffered:
		s.log.Info("TLS not offered to clients (--tls=off or --upstream-tls=disabled): both legs are plaintext",
			zap.String("upstream", s.cfg.Upstream))
	}
}
