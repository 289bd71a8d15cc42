package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/querylens/querylens/protocol"
)

// The error a client receives when the upstream cannot be reached:
// ER_UNKNOWN_ERROR with SQLSTATE 08001 ("client unable to establish
// connection"), the class connection pools and JDBC map to a connect
// failure. A code in the client range (2003 "Can't connect to MySQL server")
// would read better, but libmariadb rejects server-sent 2xxx codes as a
// malformed packet.
const (
	errCodeUpstreamUnreachable  = 1105
	sqlStateUpstreamUnreachable = "08001"
)

// The error a client over Config.MaxConnections receives: what mysqld sends
// beyond max_connections (ER_CON_COUNT_ERROR, SQLSTATE 08004 "server
// rejected the connection"), so pools treat both alike.
const (
	errCodeTooManyConnections  = 1040
	sqlStateTooManyConnections = "08004"
)

const minBufferSize = 4 << 10

// conn is one client connection and its upstream leg.
type conn struct {
	srv       *Server
	id        uint64
	rawClient net.Conn // the accepted socket; closing it ends everything on it
	client    net.Conn // rawClient, or the TLS connection over it once negotiated
	log       *zap.Logger

	lastActive atomic.Int64 // unix nanos of the last relayed chunk

	mu       sync.Mutex // guards everything below and serializes the session
	rawUp    net.Conn   // the upstream socket
	upstream net.Conn   // rawUp, or the TLS connection over it
	session  *protocol.Session
	decoding bool // false after a decoder panic
	desynced bool // the session reported a decode error
	closing  bool // Shutdown decided to close: relay nothing more
	quit     bool // the client sent COM_QUIT: whoever closes first, the client ended it

	loop *loopConn // set when an event loop relays the connection

	closeOnce sync.Once
}

func (s *Server) newConn(nc net.Conn) *conn {
	id := s.nextID.Add(1)
	client := clientAddrOf(nc)
	c := &conn{
		srv:       s,
		id:        id,
		rawClient: nc,
		client:    nc,
		log:       s.log.With(zap.Uint64("conn_id", id), zap.String("client", client)),
		decoding:  true,
	}
	c.session = protocol.NewSession(protocol.SessionConfig{
		ClientAddr:  client,
		MaxSQLBytes: s.cfg.MaxSQLBytes,
		Handler:     c.handleEvent,
		// With TLS terminated here the session sees the plaintext inside.
		DecryptedTLS: s.cfg.ClientTLS != nil,
	})
	c.lastActive.Store(time.Now().UnixNano())
	return c
}

// serve dials the upstream and runs both pumps until the connection ends.
func (c *conn) serve() {
	defer c.srv.trackConn(c, false)
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("connection handler panicked; closing this connection only",
				zap.Any("panic", r), zap.Stack("stack"))
		}
		c.closeNow()
	}()
	c.log.Debug("accepted")

	up, err := c.dial()
	if err != nil {
		c.srv.metrics.upstreamErrors.Inc()
		c.log.Warn("upstream unreachable; answering the client with an error",
			zap.String("upstream", c.srv.cfg.Upstream), zap.Error(err))
		c.refuse(fmt.Sprintf("querylens: cannot connect to upstream %s: %s", c.srv.cfg.Upstream, dialReason(err)))
		return
	}
	c.mu.Lock()
	c.rawUp, c.upstream = up, up
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return
	}

	if err := c.negotiate(); err != nil {
		var ng *noGreetingError
		switch {
		case errors.As(err, &ng) && !c.isClosing():
			c.srv.metrics.upstreamErrors.Inc()
			c.log.Warn("upstream sent no greeting; answering the client with an error",
				zap.String("upstream", c.srv.cfg.Upstream), zap.Error(ng.err))
			c.refuse(fmt.Sprintf("querylens: upstream %s sent no greeting: %s", c.srv.cfg.Upstream, dialReason(ng.err)))
		case !isQuietClose(err):
			c.log.Info("login not relayed", zap.Error(err))
		}
		return
	}

	errc := make(chan error, 2)
	if lc := c.srv.attach(c, errc); lc != nil { // counted in relayLoop by attach
		c.mu.Lock()
		c.loop = lc
		closing := c.closing
		c.mu.Unlock()
		if closing {
			lc.close() // closeNow ran before c.loop was set
		}
	} else {
		c.srv.metrics.relayPumps.Inc()
		go c.clientToServer(errc)
		go c.serverToClient(errc)
	}
	first := <-errc
	byProxy := c.isClosing()
	var second error
	if errors.Is(first, errClientEOF) {
		// The client finished writing (usually after COM_QUIT). Let the
		// server see EOF and finish whatever it still sends.
		if c.loop != nil {
			c.loop.closeWrite()
		} else {
			closeWrite(up)
		}
		select {
		case second = <-errc:
		case <-time.After(5 * time.Second):
		}
	}
	c.closeNow()
	if second == nil {
		second = <-errc
	}
	c.mu.Lock()
	inFlight := 0
	if c.decoding {
		inFlight = c.session.InFlight()
		now := time.Now()
		c.safeCall(func() { c.session.Close(now) })
		if co, ok := c.srv.sink.(CloseObserver); ok {
			if id := c.session.Info().ConnID; id != 0 {
				co.ObserveClose(clientAddrOf(c.rawClient), id, now)
			}
		}
	}
	c.mu.Unlock()
	c.logEnd(first, second, byProxy, inFlight)
}

// CloseObserver is implemented by sinks that want to know when a decoded
// connection has ended, after its last event (stats.Engine does: the units
// of work of that connection end with it). clientAddr and connID are those
// of the connection's events.
type CloseObserver interface {
	ObserveClose(clientAddr string, connID uint32, at time.Time)
}

// clientAddrOf is the client address events carry: host:port, or "unix".
func clientAddrOf(nc net.Conn) string {
	if nc.RemoteAddr().Network() == "unix" {
		return "unix"
	}
	return nc.RemoteAddr().String()
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

var errClientEOF = errors.New("client closed its side")

func (c *conn) dial() (net.Conn, error) {
	network, address, _ := SplitAddr(c.srv.cfg.Upstream) // validated in New
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.DialTimeout)
	defer cancel()
	return c.srv.dialer.DialContext(ctx, network, address)
}

// refuse tells the client, with a MySQL error carrying msg, that there is
// no server to relay to. It plays the server's part of the handshake.
func (c *conn) refuse(msg string) {
	_ = c.client.SetDeadline(time.Now().Add(rejectTimeout))
	refuseLogin(c.client, uint32(c.id), errCodeUpstreamUnreachable, sqlStateUpstreamUnreachable, msg)
}

// refuseLogin answers a client that cannot be served with a MySQL error: a
// greeting of the proxy's own, then the ERR after the client's answer. An
// ERR sent in place of the greeting would be simpler, but libmariadb (the
// mariadb CLI, many language bindings) reports it as a malformed packet.
// The greeting offers no TLS, so the answer is a HandshakeResponse in
// plaintext. The caller sets a deadline on client.
func refuseLogin(client net.Conn, connID uint32, code uint16, sqlState, msg string) {
	var scramble [20]byte
	for i := range scramble {
		scramble[i] = byte('0' + rand.IntN(75)) // printable, never NUL
	}
	if _, err := client.Write(protocol.AppendGreeting(nil, "8.0.0-querylens", connID, scramble)); err != nil {
		return
	}
	answerWithError(client, code, sqlState, msg)
}

// answerWithError reads the client's next packet (its HandshakeResponse,
// dropped unread and unlogged: it holds auth data) and answers it with an
// ERR carrying code, sqlState and msg at the next sequence id. A client
// that sent an SSLRequest instead starts TLS and sees the connection close.
func answerWithError(client net.Conn, code uint16, sqlState, msg string) {
	var hdr [4]byte
	if _, err := io.ReadFull(client, hdr[:]); err != nil {
		return
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if _, err := io.CopyN(io.Discard, client, int64(n)); err != nil {
		return
	}
	_, _ = client.Write(protocol.AppendErrPacket(nil, hdr[3]+1, code, sqlState, msg))
}

// noGreetingError is negotiate's error when the upstream accepted the
// connection but sent no complete greeting (it stalled past
// HandshakeTimeout or closed): nothing has reached the client yet, so it can
// still be answered with a proper error.
type noGreetingError struct{ err error }

func (e *noGreetingError) Error() string { return "read upstream greeting: " + e.err.Error() }
func (e *noGreetingError) Unwrap() error { return e.err }

// negotiate relays the start of the login itself, before the pumps take
// over: the server greeting (with CLIENT_SSL cleared when TLS is not
// offered) and the client's first packet. When that is an SSLRequest, it is
// passed on and TLS is set up on both legs; sequence ids need no rewriting
// because both legs take the same path (§4.5 of docs/protocol-notes.md).
func (c *conn) negotiate() error {
	cfg := &c.srv.cfg
	deadline := time.Now().Add(cfg.HandshakeTimeout)
	_ = c.client.SetDeadline(deadline)
	_ = c.upstream.SetDeadline(deadline)

	greeting, err := readPacket(c.upstream)
	if err != nil {
		return &noGreetingError{err}
	}
	caps, isGreeting := protocol.GreetingCapabilities(greeting[4:])
	offer := false
	if isGreeting {
		serverTLS := caps.Has(protocol.CapSSL) && cfg.UpstreamTLSMode != UpstreamTLSDisabled
		offer = serverTLS && cfg.ClientTLS != nil
		c.srv.noteTLS(caps.Has(protocol.CapSSL), offer)
		if cfg.UpstreamTLSMode.requiresTLS() && !caps.Has(protocol.CapSSL) {
			protocol.ClearGreetingSSL(greeting[4:])
			if _, err := c.client.Write(greeting); err != nil {
				return err
			}
			answerWithError(c.client, errCodeUpstreamUnreachable, sqlStateUpstreamUnreachable,
				fmt.Sprintf("querylens: upstream %s does not offer TLS, and --upstream-tls=%s", cfg.Upstream, cfg.UpstreamTLSMode))
			return errShutdown
		}
		if !offer && caps.Has(protocol.CapSSL) {
			protocol.ClearGreetingSSL(greeting[4:])
		}
	}
	if err := c.relayChunk(protocol.FromServer, greeting, c.client, time.Now()); err != nil {
		return err
	}
	if !isGreeting { // an ERR such as "Too many connections": pumps relay the rest
		return c.clearDeadlines()
	}

	first, err := readPacket(c.client)
	if err != nil {
		// Not a login, or cut short: relay what came and let the pumps
		// relay the rest as it is (the decoder will give up on it).
		if len(first) > 0 {
			if werr := c.relayChunk(protocol.FromClient, first, c.upstream, time.Now()); werr != nil {
				return werr
			}
		}
		if errors.Is(err, errNotHandshake) || errors.Is(err, io.ErrUnexpectedEOF) {
			c.log.Debug("client's first packet is not a handshake response; relaying it as it is", zap.Error(err))
			return c.clearDeadlines()
		}
		return fmt.Errorf("read client handshake: %w", err)
	}
	if err := c.relayChunk(protocol.FromClient, first, c.upstream, time.Now()); err != nil {
		return err
	}
	if !offer || !protocol.IsSSLRequest(first[4:]) {
		return c.clearDeadlines()
	}

	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	up := tls.Client(c.upstream, cfg.UpstreamTLS)
	if err := up.HandshakeContext(ctx); err != nil {
		c.srv.metrics.tlsFailures.WithLabelValues("upstream").Inc()
		c.log.Warn("upstream TLS handshake failed", zap.String("upstream", cfg.Upstream), zap.Error(err))
		// The client is waiting for TLS: give it TLS and then the error.
		cl := tls.Server(c.client, cfg.ClientTLS)
		if cl.HandshakeContext(ctx) == nil {
			answerWithError(cl, errCodeUpstreamUnreachable, sqlStateUpstreamUnreachable,
				fmt.Sprintf("querylens: TLS to upstream %s failed: %v", cfg.Upstream, err))
		}
		return errShutdown
	}
	cl := tls.Server(c.client, cfg.ClientTLS)
	if err := cl.HandshakeContext(ctx); err != nil {
		c.srv.metrics.tlsFailures.WithLabelValues("client").Inc()
		c.log.Info("client TLS handshake failed", zap.Error(err))
		return errShutdown
	}
	c.srv.metrics.tlsConns.Inc()
	c.mu.Lock()
	c.client, c.upstream = cl, up
	c.mu.Unlock()
	return c.clearDeadlines()
}

func (c *conn) clearDeadlines() error {
	_ = c.client.SetDeadline(time.Time{})
	return c.upstream.SetDeadline(time.Time{})
}

// readPacket reads exactly one physical packet, header included. It never
// reads past it: TLS bytes may follow an SSLRequest.
func readPacket(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if k, err := io.ReadFull(r, hdr[:]); err != nil {
		return hdr[:k], err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n > 1<<20 {
		// Far beyond any greeting or handshake response: not a login.
		return hdr[:], fmt.Errorf("%w: first packet of %d bytes", errNotHandshake, n)
	}
	pkt := make([]byte, 4+n)
	copy(pkt, hdr[:])
	k, err := io.ReadFull(r, pkt[4:])
	return pkt[:4+k], err
}

// errNotHandshake: a first packet too large to be a greeting or a login.
var errNotHandshake = errors.New("not a MySQL handshake")

// dialReason keeps the innermost cause ("connection refused", "i/o timeout").
func dialReason(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// clientToServer relays client bytes upstream.
func (c *conn) clientToServer(errc chan<- error) {
	errc <- c.pump(protocol.FromClient, c.client, c.upstream)
}

// serverToClient relays upstream bytes to the client.
func (c *conn) serverToClient(errc chan<- error) {
	errc <- c.pump(protocol.FromServer, c.upstream, c.client)
}

// pump copies src to dst. Each chunk is lent to the session first (see the
// package doc for why), then written. The buffer starts small and doubles
// while reads fill it, up to Config.BufferSize, so idle connections stay
// cheap and bulk transfers use few syscalls.
func (c *conn) pump(dir protocol.Direction, src, dst net.Conn) error {
	if sc, ok := src.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			return c.rawPump(dir, src, rc, dst)
		}
	}
	buf := make([]byte, min(minBufferSize, c.srv.cfg.BufferSize))
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if rerr := c.relayChunk(dir, buf[:n], dst, time.Now()); rerr != nil {
				return rerr
			}
			buf = c.grow(buf, n)
		}
		if err != nil {
			return readError(dir, c.unblocked(err))
		}
	}
}

// rawPump is pump for a plain socket, reading the descriptor itself inside
// RawConn.Read. net.Conn.Read reads until the socket says EAGAIN and only
// then waits, so every chunk costs a second, empty read. A short read
// already says the socket holds no more data (a stream socket returns all
// it has, up to the buffer's size), so rawPump waits for readiness right
// after one: one read per chunk, as in an event-loop relay. Data that
// arrives meanwhile is not lost: the poller keeps its readiness for the
// wait, which one long RawConn.Read never resets.
//
// A FIN or RST that arrives after the data woke the pump but before it read
// them is another matter: its readiness merges with the data's, and the
// short read does not report it (only the next read would). So a wait
// after a short read is unconfirmed and bounded by a read deadline of
// confirmDelay; when it passes, RawConn.Read is entered again and its first
// read confirms (EAGAIN: the wait can be unbounded) or finds the EOF. A
// busy connection pays one deadline and one empty read per confirmDelay
// instead of an empty read per chunk; a FIN is relayed at most
// confirmDelay late.
//
// The callback holds src's read lock while it writes to dst, so closing src
// waits for a blocked write to dst to end: closeNow sets past deadlines on
// both sockets before closing either.
func (c *conn) rawPump(dir protocol.Direction, src net.Conn, rc syscall.RawConn, dst net.Conn) error {
	buf := make([]byte, min(minBufferSize, c.srv.cfg.BufferSize))
	var (
		perr        error
		unconfirmed bool // a deadline bounds the wait
	)
	read := func(fd uintptr) bool {
		for {
			n, err := syscall.Read(int(fd), buf)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				if unconfirmed {
					unconfirmed = false
					if err := src.SetReadDeadline(time.Time{}); err != nil {
						perr = readError(dir, err)
						return true
					}
				}
				return false
			case err != nil:
				perr = readError(dir, os.NewSyscallError("read", err))
				return true
			case n == 0:
				perr = readError(dir, io.EOF)
				return true
			}
			now := time.Now()
			if perr = c.relayChunk(dir, buf[:n], dst, now); perr != nil {
				return true
			}
			if n < len(buf) {
				if !unconfirmed {
					unconfirmed = true
					if err := src.SetReadDeadline(now.Add(confirmDelay)); err != nil {
						perr = readError(dir, err)
						return true
					}
				}
				return false
			}
			buf = c.grow(buf, n)
		}
	}
	for {
		err := rc.Read(read)
		if perr != nil {
			return perr
		}
		if unconfirmed && errors.Is(err, os.ErrDeadlineExceeded) && !c.isClosing() {
			// Clear the deadline (RawConn.Read would fail at once on it);
			// the first read of the next RawConn.Read confirms.
			unconfirmed = false
			if err := src.SetReadDeadline(time.Time{}); err != nil {
				return readError(dir, err)
			}
			continue
		}
		return readError(dir, c.unblocked(err))
	}
}

// confirmDelay bounds rawPump's waits after a short read.
const confirmDelay = 5 * time.Millisecond

// relayChunk lends a chunk read at now to the session, then writes it to
// dst.
func (c *conn) relayChunk(dir protocol.Direction, b []byte, dst net.Conn, now time.Time) error {
	if !c.lend(dir, b, now) {
		return errShutdown
	}
	if _, err := dst.Write(b); err != nil {
		return &relayError{side: peerName(dir), op: "write", err: c.unblocked(err)}
	}
	c.srv.metrics.relayedBytes(dir).Add(float64(len(b)))
	return nil
}

// lend notes activity and feeds a chunk read at now to the session; false
// means the chunk must not be relayed (see feed).
func (c *conn) lend(dir protocol.Direction, b []byte, now time.Time) bool {
	c.lastActive.Store(now.UnixNano())
	return c.feed(dir, b, now)
}

// lendAround relays a chunk read at now with send, which writes it without
// blocking (or, in an io_uring loop, queues its send for the loop's next
// submission), and lends it to the session, both under c.mu. A client's
// chunk is sent first and decoded after, so the server does not wait for
// the decoder (except in an io_uring loop, whose sends leave with the
// batch); a server's chunk is decoded first, so that the sink has a
// statement's event before the client has the end of its reply (see
// TestEventBeforeReply). Holding c.mu throughout, the session still sees a
// command before its reply when one goroutine relays both directions.
// ok is false, and nothing is sent, once Shutdown decided to close the
// connection; sent is what send reported.
func (c *conn) lendAround(dir protocol.Direction, b []byte, now time.Time, send func() bool) (sent, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false, false
	}
	c.lastActive.Store(now.UnixNano())
	if dir == protocol.FromClient {
		sent = send()
		c.decode(dir, b, now)
	} else {
		c.decode(dir, b, now)
		sent = send()
	}
	return sent, true
}

// grow doubles a pump buffer that a read of n bytes filled, up to
// Config.BufferSize.
func (c *conn) grow(buf []byte, n int) []byte {
	if n == len(buf) && len(buf) < c.srv.cfg.BufferSize {
		return make([]byte, min(2*len(buf), c.srv.cfg.BufferSize))
	}
	return buf
}

// unblocked turns the error of a read or write that closeNow's past
// deadline woke into net.ErrClosed, which is what it is: the proxy closing
// the connection, not a timeout.
func (c *conn) unblocked(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) && c.isClosing() {
		return net.ErrClosed
	}
	return err
}

// readError is the error a pump stops with when reading src failed.
func readError(dir protocol.Direction, err error) error {
	if errors.Is(err, io.EOF) && dir == protocol.FromClient {
		err = errClientEOF
	}
	return &relayError{side: sourceName(dir), op: "read", err: err}
}

var errShutdown = errors.New("closed by shutdown")

// relayError is why a pump stopped: which socket failed, and how.
type relayError struct {
	side string // "client" or "upstream"
	op   string // "read" or "write"
	err  error
}

func (e *relayError) Error() string { return e.op + " " + e.side + ": " + e.err.Error() }
func (e *relayError) Unwrap() error { return e.err }

func sourceName(dir protocol.Direction) string {
	if dir == protocol.FromClient {
		return "client"
	}
	return "upstream"
}

func peerName(dir protocol.Direction) string {
	if dir == protocol.FromClient {
		return "upstream"
	}
	return "client"
}

// feed hands a chunk to the session. It returns false when the connection
// is being closed by Shutdown, in which case the chunk must not be relayed:
// a command that arrives after the close decision is never half-sent.
func (c *conn) feed(dir protocol.Direction, b []byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.decode(dir, b, now)
	return true
}

// decode hands a chunk to the session, if it decodes. c.mu must be held.
func (c *conn) decode(dir protocol.Direction, b []byte, now time.Time) {
	if !c.decoding {
		return
	}
	c.safeCall(func() { c.session.Feed(dir, b, now) })
	if !c.desynced && c.decoding {
		if err := c.session.Err(); err != nil {
			c.desynced = true
			c.srv.metrics.decodeErrors.Inc()
			c.log.Debug("decoder lost track of this connection; relaying on without decoding", zap.Error(err))
		}
	}
}

// safeCall runs a session call and turns a panic into "decoding off". Must
// be called with c.mu held.
func (c *conn) safeCall(f func()) {
	defer func() {
		if r := recover(); r != nil {
			c.decoding = false
			c.srv.metrics.decoderPanics.Inc()
			c.log.Error("decoder panicked; decoding off for this connection, relay continues",
				zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	f()
}

// handleEvent runs under c.mu, from within session calls.
func (c *conn) handleEvent(ev *protocol.Event) {
	if ev.Command == protocol.ComQuit {
		c.quit = true
	}
	if ev.Command == protocol.ComConnect {
		if ev.ErrorCode != 0 {
			c.srv.metrics.handshakeFailures.Inc()
		} else {
			c.log = c.log.With(zap.String("user", ev.User), zap.String("db", ev.Schema))
			c.log.Debug("logged in")
		}
	}
	if c.srv.sink != nil {
		c.srv.sink.Observe(ev)
	}
}

// closeIfIdle closes the connection if no command is in flight and reports
// whether it is closed. A connection whose traffic is not decoded counts as
// idle once nothing was relayed for half a second.
func (c *conn) closeIfIdle() bool {
	c.mu.Lock()
	idle := c.closing || c.rawUp == nil
	if !idle {
		phase := c.session.Info().Phase
		switch {
		case c.decoding && phase == protocol.PhaseCommand:
			idle = c.session.InFlight() == 0
		case c.decoding && phase.Decoding():
			idle = false // still logging in: let it finish
		default:
			// TLS, replication, desynced or decoder off: the session
			// cannot tell where commands end, so wait for a quiet spell.
			idle = time.Since(time.Unix(0, c.lastActive.Load())) > 500*time.Millisecond
		}
	}
	if idle {
		c.closing = true
	}
	c.mu.Unlock()
	if idle {
		c.closeNow()
	}
	return idle
}

func (c *conn) closeNow() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing = true
		up := c.rawUp
		lc := c.loop
		c.mu.Unlock()
		if lc != nil {
			lc.close() // its net.Conns are closed already
			return
		}
		// Past deadlines first: they end a pump's write blocked on the
		// other socket, which would otherwise hold up closing its source
		// (see rawPump). Pumps only run once rawUp is set, and serve does
		// not start them once closing is.
		past := time.Unix(1, 0)
		_ = c.rawClient.SetDeadline(past)
		if up != nil {
			_ = up.SetDeadline(past)
		}
		c.rawClient.Close()
		if up != nil {
			up.Close()
		}
	})
}

func closeWrite(nc net.Conn) {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// logEnd logs how the connection ended. first is the first pump's error,
// byProxy whether the proxy had decided to close it by then (Shutdown,
// Close), inFlight the commands the decoder saw unanswered.
func (c *conn) logEnd(first, second error, byProxy bool, inFlight int) {
	by := "proxy"
	var re *relayError
	if !byProxy && errors.As(first, &re) {
		by = re.side
	}
	c.mu.Lock()
	quit := c.quit
	c.mu.Unlock()
	if quit && !byProxy {
		by = "client" // after COM_QUIT the server's close may be seen first
	}
	if by == "upstream" && inFlight > 0 {
		c.log.Info("upstream closed the connection with a command in flight; closed the client too",
			zap.Error(first), zap.Int("in_flight", inFlight))
		return
	}
	for _, err := range []error{first, second} {
		if err == nil || isQuietClose(err) {
			continue
		}
		c.log.Info("connection ended with an error", zap.String("closed_by", by), zap.Error(err))
		return
	}
	c.log.Debug("closed", zap.String("closed_by", by))
}

func isQuietClose(err error) bool {
	return errors.Is(err, errClientEOF) || errors.Is(err, errShutdown) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
