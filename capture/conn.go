package capture

import (
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/querylens/querylens/protocol"
)

// connKey identifies a TCP connection by its client and server ends.
type connKey struct {
	client, server netip.AddrPort
}

// connState is where a connection's decoding stands.
type connState uint8

const (
	stateDecoding connState = iota // a session is fed
	stateSyncing                   // looking for a command boundary in the client's stream
	stateProbing                   // boundary found; inferring capabilities, bytes held for replay
	stateTLS                       // TLS: counted, not decoded
	stateIgnored                   // nothing more to decode (login refused, replication, unsupported variant)
)

// conn is one TCP connection to a server.
type conn struct {
	a        *Analyzer
	key      connKey
	client   string // client address for events
	streams  [2]stream
	deliver  [2]func([]byte, time.Time)
	state    connState
	sess     *protocol.Session
	lastSeen time.Time
	started  bool  // a session was created once (counted in MySQLConns)
	prev     *conn // neighbours in Analyzer.lru
	next     *conn

	// known is what an earlier session of this connection learnt (after a
	// gap or a desync), knownCaps whether its capabilities came from a
	// handshake and need no probing.
	known     protocol.Midstream
	knownCaps bool

	probe   *probe
	replay  []replayChunk
	replayN int

	// syncBuf collects a client command that spans segments while syncing.
	syncBuf []byte
	syncAt  time.Time
}

// Bounds of the bytes held while probing a connection joined mid-stream:
// per connection, and for all connections together.
const (
	maxProbeBytes = 64 << 10
	maxProbeTotal = 64 << 20
)

// replayChunk is a chunk held while probing.
type replayChunk struct {
	dir  protocol.Direction
	data []byte
	at   time.Time
}

// packet handles one packet record.
func (a *Analyzer) packet(data []byte, ci gopacket.CaptureInfo, link layers.LinkType, p *tcpPacket) {
	at := ci.Timestamp
	a.now.Store(at.UnixNano())
	a.mu.Lock()
	a.stats.Packets++
	if a.stats.First.IsZero() {
		a.stats.First = at
	}
	a.stats.Last = at
	a.mu.Unlock()

	if !a.dec.decode(data, ci, link, p) {
		a.count(func(s *Stats) { s.Other++ })
		return
	}
	var key connKey
	var dir protocol.Direction
	switch {
	case a.isServer(p.dst):
		key, dir = connKey{client: p.src, server: p.dst}, protocol.FromClient
	case a.isServer(p.src):
		key, dir = connKey{client: p.dst, server: p.src}, protocol.FromServer
	default:
		a.count(func(s *Stats) { s.Other++ })
		return
	}
	c := a.conns[key]
	if c != nil && dir == protocol.FromClient && p.syn && !p.hasAck && c.streams[dir].init && p.seq+1 != c.streams[dir].next {
		// A new connection on the same addresses and ports: the old one
		// ended without a FIN or RST in the capture.
		a.closeConn(c)
		c = nil
	}
	if c == nil {
		if !p.syn && len(p.payload) == 0 {
			return // an ACK, FIN or RST: nothing to follow yet, or the last words of a connection
		}
		c = a.newConn(key, p.syn)
	}
	c.lastSeen = at
	a.lru.touch(c)
	c.segment(dir, p)
	if c.done() {
		a.closeConn(c)
	}
	if at.After(a.sweepAt) {
		a.sweepAt = at.Add(a.cfg.IdleTimeout / 8)
		a.sweepIdle(at)
	}
}

// isServer reports whether ap is a server end.
func (a *Analyzer) isServer(ap netip.AddrPort) bool {
	port := ap.Port()
	if len(a.cfg.Servers) > 0 {
		for _, s := range a.cfg.Servers {
			if s.Addr() == ap.Addr() && (s.Port() == port || s.Port() == 0 && a.isPort(port)) {
				return true
			}
		}
		return false
	}
	return a.isPort(port)
}

func (a *Analyzer) isPort(port uint16) bool {
	for _, p := range a.cfg.Ports {
		if p == port {
			return true
		}
	}
	return false
}

// newConn starts following a connection: from its greeting when its SYN
// is in the capture, from the next command boundary otherwise.
func (a *Analyzer) newConn(key connKey, syn bool) *conn {
	if len(a.conns) >= a.cfg.MaxConns {
		a.closeConn(a.lru.head) // the least recently active
	}
	c := &conn{a: a, key: key, client: key.client.String(), state: stateSyncing}
	c.deliver[protocol.FromClient] = func(b []byte, at time.Time) { c.data(protocol.FromClient, b, at) }
	c.deliver[protocol.FromServer] = func(b []byte, at time.Time) { c.data(protocol.FromServer, b, at) }
	if syn {
		c.sess = protocol.NewSession(a.sessionConfig(c))
		c.state = stateDecoding
		c.started = true
		a.count(func(s *Stats) { s.MySQLConns++ })
	}
	a.count(func(s *Stats) { s.Flows++ })
	a.conns[key] = c
	return c
}

func (a *Analyzer) sessionConfig(c *conn) protocol.SessionConfig {
	return protocol.SessionConfig{ClientAddr: c.client, MaxSQLBytes: a.cfg.MaxSQLBytes, Handler: a.event}
}

// event passes an event to the handler.
func (a *Analyzer) event(ev *protocol.Event) {
	a.count(func(s *Stats) { s.Events++ })
	a.handle(ev)
}

// sweepIdle ends the connections idle for longer than IdleTimeout, the
// least recently active first.
func (a *Analyzer) sweepIdle(now time.Time) {
	for c := a.lru.head; c != nil && now.Sub(c.lastSeen) > a.cfg.IdleTimeout; c = a.lru.head {
		a.closeConn(c)
	}
}

// connList orders the open connections by their last packet, least
// recently active first (capture time only moves forward, so moving a
// connection to the tail on each packet keeps the order).
type connList struct{ head, tail *conn }

// touch moves c to the tail, inserting it if it is not in the list.
func (l *connList) touch(c *conn) {
	if l.tail == c {
		return
	}
	l.remove(c)
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
}

// remove takes c out of the list, if it is in it.
func (l *connList) remove(c *conn) {
	if c.prev == nil && l.head != c {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

// closeConn ends a connection at its last packet: the commands in flight
// are emitted as incomplete.
func (a *Analyzer) closeConn(c *conn) {
	delete(a.conns, c.key)
	a.lru.remove(c)
	if c.state == stateProbing {
		c.startSession()
	}
	if c.streams[0].hole() || c.streams[1].hole() {
		a.count(func(s *Stats) { s.Gaps++ })
	}
	if c.sess != nil {
		c.sess.Close(c.lastSeen)
		if a.cfg.OnClose != nil {
			if id := c.sess.Info().ConnID; id != 0 {
				a.cfg.OnClose(c.client, id, c.lastSeen)
			}
		}
		c.sess = nil
	}
}

// Close ends every connection still open, emitting their commands in
// flight as incomplete. Call it after the last Read.
func (a *Analyzer) Close() {
	for _, c := range a.conns {
		a.closeConn(c)
	}
}

// done reports whether the connection has ended: both sides sent FIN.
func (c *conn) done() bool { return c.streams[0].fin && c.streams[1].fin }

// segment handles one TCP segment travelling in direction dir.
func (c *conn) segment(dir protocol.Direction, p *tcpPacket) {
	a := c.a
	st, other := &c.streams[dir], &c.streams[1-dir]
	if p.rst {
		c.streams[0].fin, c.streams[1].fin = true, true
		return
	}
	if p.syn {
		st.reset()
		st.next, st.init = p.seq+1, true
		if p.hasAck && !other.init {
			other.next, other.init = p.ack, true
		}
		return
	}
	// The peer acknowledging bytes this capture never saw: they are lost.
	if p.hasAck && len(p.payload) > 0 && other.missing(p.ack) && !other.fin {
		c.gap(1-dir, p.at)
		other.reset()
		other.next, other.init = p.ack, true
	}
	if p.short {
		// The capture kept only part of the payload (snap length).
		c.gap(dir, p.at)
		st.reset()
		st.next, st.init = p.seq+uint32(len(p.payload)), true
		return
	}
	switch st.add(p.seq, p.payload, p.fin, p.at, a.cfg.MaxBufferedBytes, c.deliver[dir]) {
	case segRetransmit:
		a.count(func(s *Stats) { s.Retransmits++ })
	case segOverBudget:
		c.gap(dir, p.at)
		st.reset()
		st.next, st.init = p.seq+uint32(len(p.payload)), true
	}
}

// gap records missing bytes in direction dir: the session loses track and
// decoding resumes at the next command boundary.
func (c *conn) gap(dir protocol.Direction, at time.Time) {
	c.a.count(func(s *Stats) { s.Gaps++ })
	c.streams[dir].reset()
	switch c.state {
	case stateDecoding:
		c.a.count(func(s *Stats) { s.Desyncs++ })
		c.remember()
		c.sess.Close(at)
		c.sess = nil
		c.state = stateSyncing
	case stateProbing:
		c.dropReplay()
		c.state = stateSyncing
	}
}

// remember keeps what the current session learnt, for the next one.
func (c *conn) remember() {
	info := c.sess.Info()
	c.known = protocol.Midstream{
		Caps: info.Caps, Flavor: info.Flavor, ServerVersion: info.ServerVersion, ConnID: info.ConnID,
		User: info.User, Schema: info.Schema, Compression: info.Compression,
	}
	c.knownCaps = info.Caps != 0
}

// data handles bytes delivered in order in direction dir.
func (c *conn) data(dir protocol.Direction, b []byte, at time.Time) {
	switch c.state {
	case stateDecoding:
		c.sess.Feed(dir, b, at)
		c.afterFeed()
	case stateSyncing:
		c.sync(dir, b, at)
	case stateProbing:
		c.hold(dir, b, at)
		if c.probe.done() || c.replayN > maxProbeBytes || c.a.probeHeld > maxProbeTotal {
			c.startSession()
		}
	}
}

// maxSyncBytes bounds the client bytes collected while a command that
// spans segments is checked for being a command boundary.
const maxSyncBytes = 64 << 10

// sync looks for a command boundary in the client's stream: segments that
// hold exactly whole command packets (a command may span several segments).
// Server bytes before it are dropped.
func (c *conn) sync(dir protocol.Direction, b []byte, at time.Time) {
	if dir == protocol.FromServer {
		c.syncBuf = nil // the server answered: what was collected was no whole command
		return
	}
	if len(c.syncBuf) > 0 {
		c.syncBuf = append(c.syncBuf, b...)
		b, at = c.syncBuf, c.syncAt
	}
	kind, comp := classifyChunk(b)
	if kind == chunkOther {
		switch {
		case partialCommands(b) && len(b) <= maxSyncBytes:
			if len(c.syncBuf) == 0 {
				c.syncBuf, c.syncAt = append([]byte(nil), b...), at
			}
		case len(c.syncBuf) > 0:
			c.syncBuf = nil
		}
		return
	}
	c.syncBuf = nil
	switch kind {
	case chunkTLS:
		c.a.count(func(s *Stats) { s.TLSConns++ })
		c.state = stateTLS
	case chunkCompressed:
		m := c.known
		if !c.knownCaps {
			m.Caps = assumedCaps | protocol.CapDeprecateEOF | protocol.CapCompress
			if comp == protocol.CompressionZstd {
				m.Caps = m.Caps&^protocol.CapCompress | protocol.CapZstdCompression
			}
			m.Compression = comp
		}
		c.newMidstream(m)
		c.sess.Feed(dir, b, at)
		c.afterFeed()
	case chunkCommand:
		if c.knownCaps && c.known.Compression == protocol.CompressionNone {
			c.newMidstream(c.known)
			c.sess.Feed(dir, b, at)
			c.afterFeed()
			return
		}
		c.state = stateProbing
		c.probe = &probe{}
		c.hold(dir, b, at)
	}
}

// hold keeps a copy of a chunk for replay and shows it to the probe.
func (c *conn) hold(dir protocol.Direction, b []byte, at time.Time) {
	c.probe.feed(dir, b)
	c.replay = append(c.replay, replayChunk{dir: dir, data: append([]byte(nil), b...), at: at})
	c.replayN += len(b)
	c.a.probeHeld += len(b)
}

// dropReplay forgets the bytes held while probing.
func (c *conn) dropReplay() {
	c.a.probeHeld -= c.replayN
	c.probe, c.replay, c.replayN = nil, nil, 0
}

// startSession ends probing: it starts a mid-stream session with the
// capabilities found and replays the bytes held.
func (c *conn) startSession() {
	m := c.known
	m.Caps = c.probe.caps()
	c.newMidstream(m)
	replay := c.replay
	c.dropReplay()
	for _, r := range replay {
		if c.state != stateDecoding {
			break
		}
		c.sess.Feed(r.dir, r.data, r.at)
		c.afterFeed()
	}
}

// newMidstream starts a session at a command boundary.
func (c *conn) newMidstream(m protocol.Midstream) {
	c.sess = protocol.NewMidstreamSession(c.a.sessionConfig(c), m)
	c.state = stateDecoding
	if !c.started {
		c.started = true
		c.a.count(func(s *Stats) { s.MySQLConns++; s.Midstream++ })
	}
}

// afterFeed follows the session out of the decoding phases.
func (c *conn) afterFeed() {
	info := c.sess.Info()
	if info.Phase.Decoding() {
		return
	}
	switch info.Phase {
	case protocol.PhaseTLS:
		c.a.count(func(s *Stats) { s.TLSConns++ })
		c.state = stateTLS
	case protocol.PhaseDesynced:
		c.a.count(func(s *Stats) { s.Desyncs++ })
		c.remember()
		c.state = stateSyncing
	default:
		c.state = stateIgnored
	}
	c.sess.Close(c.lastSeen)
	c.sess = nil
}
