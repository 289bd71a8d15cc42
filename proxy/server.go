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
// the relay goroutines.
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
	tlsPolicy  atomic.Int32 // last logged upstream TLS situation, see noteTLS

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	serving   sync.WaitGroup // accept loops
	handlers  sync.WaitGroup // connection goroutines
}

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
		listeners: make(map[*net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}, nil
}

// Serve accepts connections on l until Shutdown or Close, and always returns
// a non-nil error: ErrServerClosed after those. Temporary accept errors are
// backed off from 5ms up to 1s, as net/http does.
func (s *Server) Serve(l net.Listener) error {
	if !s.trackListener(&l, true) {
		l.Close()
		return ErrServerClosed
	}
	defer s.trackListener(&l, false)
	var delay time.Duration
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
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; backing off", zap.Error(err), zap.Duration("delay", delay))
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := s.newConn(nc)
		if !s.trackConn(c, true) {
			nc.Close()
			return ErrServerClosed
		}
		s.handlers.Add(1)
		go func() {
			defer s.handlers.Done()
			c.serve()
		}()
	}
}

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

func (s *Server) trackConn(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.inShutdown.Load() {
			return false
		}
		s.conns[c] = struct{}{}
		s.metrics.connsOpen.Inc()
		s.metrics.connsTotal.Inc()
		return true
	}
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.metrics.connsOpen.Dec()
	}
	return true
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		(*l).Close()
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
			return nil
		}
		select {
		case <-ctx.Done():
			s.closeAll()
			s.serving.Wait()
			s.handlers.Wait()
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
	return nil
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
