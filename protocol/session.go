package protocol

import (
	"time"
	"unicode/utf8"
)

// Direction says which way relayed bytes travelled.
type Direction uint8

// Directions.
const (
	FromClient Direction = iota // client → server bytes
	FromServer                  // server → client bytes
)

// String returns "client" or "server".
func (d Direction) String() string {
	if d == FromClient {
		return "client"
	}
	return "server"
}

// Phase is where a Session is in a connection's life.
type Phase uint8

// Phases. A session decodes in PhaseGreeting, PhaseHandshake, PhaseAuth and
// PhaseCommand; the other phases are final and only count bytes.
const (
	PhaseGreeting    Phase = iota // waiting for the server's greeting
	PhaseHandshake                // greeting seen, waiting for the client's HandshakeResponse
	PhaseAuth                     // authentication exchange until OK/ERR
	PhaseCommand                  // command phase
	PhaseTLS                      // the client asked for TLS: the rest is encrypted, not decoded
	PhaseOpaque                   // a protocol variant this package does not decode (pre-4.1 client, unsupported compression)
	PhaseReplication              // a replication stream (BINLOG_DUMP, CLONE...): not decoded
	PhaseDesynced                 // the decoder lost track (see Err); not decoded
	PhaseClosed                   // Close was called, or the server refused the login
)

var phaseNames = [...]string{
	PhaseGreeting: "greeting", PhaseHandshake: "handshake", PhaseAuth: "auth",
	PhaseCommand: "command", PhaseTLS: "tls", PhaseOpaque: "opaque",
	PhaseReplication: "replication", PhaseDesynced: "desynced", PhaseClosed: "closed",
}

// String returns the phase name, usable as a metric label.
func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "unknown"
}

// Decoding reports whether a session in this phase still decodes traffic.
func (p Phase) Decoding() bool { return p <= PhaseCommand }

// Flavor is the server family.
type Flavor uint8

// Flavors.
const (
	FlavorUnknown Flavor = iota
	FlavorMySQL
	FlavorMariaDB
)

// String returns "mysql", "mariadb" or "unknown".
func (f Flavor) String() string {
	switch f {
	case FlavorMySQL:
		return "mysql"
	case FlavorMariaDB:
		return "mariadb"
	}
	return "unknown"
}

// Compression is the negotiated compression algorithm.
type Compression uint8

// Compression algorithms (§3 of the protocol notes).
const (
	CompressionNone Compression = iota
	CompressionZlib             // CLIENT_COMPRESS
	CompressionZstd             // CLIENT_ZSTD_COMPRESSION_ALGORITHM (MySQL 8.0.18+)
)

// String returns "none", "zlib" or "zstd".
func (c Compression) String() string {
	switch c {
	case CompressionZlib:
		return "zlib"
	case CompressionZstd:
		return "zstd"
	}
	return "none"
}

// Attr is a key/value pair: a connection attribute from the
// HandshakeResponse, or a query attribute of a COM_QUERY.
type Attr struct {
	Key, Value string
}

// ConnInfo is what a Session knows about its connection.
type ConnInfo struct {
	Phase         Phase
	Flavor        Flavor
	ServerVersion string // without MariaDB's "5.5.5-" prefix
	ConnID        uint32

	// ServerCaps are the greeting's capabilities, ClientCaps the client's
	// HandshakeResponse (both with MariaDB's extended capabilities in bits
	// 32..63), Caps their intersection: what shapes the wire.
	ServerCaps CapabilityFlag
	ClientCaps CapabilityFlag
	Caps       CapabilityFlag

	User       string
	Schema     string // from the HandshakeResponse, COM_INIT_DB, session tracking or COM_CHANGE_USER
	AuthPlugin string // last plugin named by the greeting, the client or an auth switch
	// Attrs are the client's connection attributes (at most 32, each cut to
	// 256 bytes). The slice is shared: do not modify it.
	Attrs []Attr

	Compression     Compression
	MultiStatements bool       // CLIENT_MULTI_STATEMENTS as changed by COM_SET_OPTION
	Status          StatusFlag // status flags of the last OK/EOF

	// Bytes relayed in each direction, whether decoded or not.
	BytesFromClient uint64
	BytesFromServer uint64

	PreparedStatements int // statements currently tracked
	// Unsolicited counts server packets that arrived with no command in
	// flight (MySQL's ERR 4031 before closing an idle connection, shutdown
	// notices); LastUnsolicited is the last such ERR.
	Unsolicited     int
	LastUnsolicited *ServerError
}

// SessionConfig configures a Session. The zero value is usable.
type SessionConfig struct {
	// ClientAddr is copied into every Event.
	ClientAddr string
	// MaxSQLBytes caps the SQL copied into Event.SQL; 0 means 64 KiB.
	MaxSQLBytes int
	// Handler receives each finished event, synchronously from Feed or
	// Close, and owns it. It must not call Feed or Close.
	Handler func(*Event)
	// MaxParamBytes caps each parameter value copied into Event.Params
	// (strings, decimals, JSON...); 0 means 256 bytes.
	MaxParamBytes int
	// DecryptedTLS tells the session that after an SSLRequest it will be fed
	// the decrypted stream (a proxy terminating TLS on both legs) rather than
	// TLS records: decoding then goes on with the HandshakeResponse.
	DecryptedTLS bool
}

// Limits.
const (
	defaultMaxSQLBytes = 64 << 10
	// serverKeep is how much of a server packet is copied when it spans
	// chunks: enough for OK info, ERR messages, column definitions.
	serverKeep = 4 << 10
	// clientExtraKeep is copied beyond MaxSQLBytes for client packets: the
	// query-attribute prefix, the HandshakeResponse's attributes.
	clientExtraKeep = 4 << 10
	// maxInFlight bounds the FIFO of pipelined commands.
	maxInFlight = 16 << 10
)

// dirState is the per-direction decoding state.
type dirState struct {
	fr      framer
	inflate *inflater // non-nil once compression is on
	bytes   uint64
}

// Session decodes one connection. Feed it every relayed chunk of both
// directions in relay order; it emits an Event per command. A Session is not
// safe for concurrent use. See the package documentation for the contract.
type Session struct {
	cfg    SessionConfig
	maxSQL int
	phase  Phase
	err    *DecodeError
	now    time.Time
	dirs   [2]dirState

	// Connection state.
	flavor      Flavor
	version     string
	connID      uint32
	serverCaps  CapabilityFlag
	clientCaps  CapabilityFlag
	caps        CapabilityFlag
	user        string
	schema      string
	plugin      string
	attrs       []Attr
	compression Compression
	multiStmt   bool
	status      StatusFlag
	unsolicited int
	lastUnsol   *ServerError

	connect *Event // the ComConnect event until the login ends

	// Command phase.
	q       []command // ring buffer of commands in flight
	qHead   int
	qLen    int
	upload  bool // a LOCAL INFILE upload is under way: client packets are file data
	lastEnd time.Time
	stmts   stmtTable
	params  paramDecoder
	// pendingReq counts the bytes of the EXECUTE copies held by commands
	// waiting in the queue (maxPendingReq).
	pendingReq int

	// Zeroed events taken from the free list (newEvent): spare[:spares].
	spare  [eventBatch]*Event
	spares int
}

// NewSession returns a Session waiting for the server's greeting.
func NewSession(cfg SessionConfig) *Session {
	s := &Session{cfg: cfg, maxSQL: cfg.MaxSQLBytes}
	if s.maxSQL <= 0 {
		s.maxSQL = defaultMaxSQLBytes
	}
	s.params.maxBytes = cfg.MaxParamBytes
	if s.params.maxBytes <= 0 {
		s.params.maxBytes = defaultMaxParamBytes
	}
	return s
}

// Feed consumes one chunk of relayed bytes that travelled in direction dir
// and arrived at now. data is only read during the call; the session copies
// what it keeps. Chunks may split packets anywhere or hold many. Feed never
// panics and never blocks: on input it cannot decode it marks the session
// desynced (see Err) and later calls only count bytes.
func (s *Session) Feed(dir Direction, data []byte, now time.Time) {
	if dir > FromServer {
		return
	}
	d := &s.dirs[dir]
	d.bytes += uint64(len(data))
	if !s.phase.Decoding() {
		return
	}
	s.now = now
	for len(data) > 0 && s.phase.Decoding() {
		var n int
		if d.inflate != nil {
			n = s.inflate(dir, d, data)
		} else {
			n = s.deframe(dir, d, data, false)
		}
		data = data[n:]
	}
}

// deframe runs data through the direction's packet framer and handles each
// complete packet. Unless inner (the data is already decompressed), it
// returns early when compression starts so that the rest of the chunk goes
// through the inflater.
func (s *Session) deframe(dir Direction, d *dirState, data []byte, inner bool) int {
	n := 0
	for n < len(data) && s.phase.Decoding() {
		if dir == FromServer && s.phase == PhaseCommand && d.inflate == nil && s.qLen > 0 && d.fr.atBoundary() {
			if c := s.head(); c.state == rsRows && c.kind == respResult {
				rows := skipRows(c, data[n:])
				d.fr.offset += int64(rows)
				if n += rows; n == len(data) {
					break
				}
			}
		}
		s.setLimits(dir, d)
		c, done := d.fr.advance(data[n:], s.now)
		n += c
		if !done {
			continue
		}
		if inner {
			// Under compression a packet is credited with the compressed
			// bytes consumed since the previous packet completed.
			d.fr.pkt.wire, d.inflate.credit = d.inflate.credit, 0
		}
		if dir == FromClient {
			s.clientPacket(&d.fr.pkt)
		} else {
			s.serverPacket(&d.fr.pkt)
		}
		if !inner && d.inflate != nil {
			break
		}
	}
	return n
}

// setLimits tells the framer how much of the next packet to copy. Auth data
// and LOCAL INFILE contents are never copied.
func (s *Session) setLimits(dir Direction, d *dirState) {
	if dir == FromServer {
		d.fr.limits = [2]int{serverKeep, serverKeep}
		return
	}
	keep := s.maxSQL + clientExtraKeep
	switch {
	case s.phase == PhaseAuth:
		d.fr.limits = [2]int{keep, 0} // seq 0: a command pipelined behind the login
	case s.upload:
		d.fr.limits = [2]int{0, 0} // a long upload wraps past seq 255 to 0
	case s.inChangeUser():
		d.fr.limits = [2]int{keep, 0}
	default:
		d.fr.limits = [2]int{keep, keep}
	}
}

// Close ends the session at now: commands still in flight (and an unfinished
// login) are emitted with Incomplete set. Later calls do nothing.
func (s *Session) Close(now time.Time) {
	if s.phase == PhaseClosed {
		return
	}
	s.now = now
	s.abandon()
	if s.phase.Decoding() {
		s.phase = PhaseClosed
	}
	s.release()
}

// Err returns the *DecodeError that desynced the session, or nil.
func (s *Session) Err() error {
	if s.err == nil {
		return nil
	}
	return s.err
}

// InFlight returns the number of commands sent and not yet fully answered:
// 0 between commands. A session that no longer decodes (see Phase.Decoding)
// reports 0 although the connection may be busy.
func (s *Session) InFlight() int {
	if !s.phase.Decoding() {
		return 0
	}
	return s.qLen
}

// Info returns what the session knows about its connection.
func (s *Session) Info() ConnInfo {
	return ConnInfo{
		Phase:              s.phase,
		Flavor:             s.flavor,
		ServerVersion:      s.version,
		ConnID:             s.connID,
		ServerCaps:         s.serverCaps,
		ClientCaps:         s.clientCaps,
		Caps:               s.caps,
		User:               s.user,
		Schema:             s.schema,
		AuthPlugin:         s.plugin,
		Attrs:              s.attrs,
		Compression:        s.compression,
		MultiStatements:    s.multiStmt,
		Status:             s.status,
		BytesFromClient:    s.dirs[FromClient].bytes,
		BytesFromServer:    s.dirs[FromServer].bytes,
		PreparedStatements: s.stmts.len(),
		Unsolicited:        s.unsolicited,
		LastUnsolicited:    s.lastUnsol,
	}
}

// desync records a decode error, emits what is in flight as incomplete and
// stops decoding.
func (s *Session) desync(dir Direction, p *packet, msg string, off int, reason string) {
	if !s.phase.Decoding() {
		return
	}
	e := &DecodeError{Message: msg, Offset: off, Reason: reason, Dir: dir}
	if p != nil {
		e.StreamOffset = p.offset
	}
	s.err = e
	s.stop(PhaseDesynced)
}

// stop ends decoding in a final phase, emitting what is in flight as
// incomplete.
func (s *Session) stop(phase Phase) {
	s.abandon()
	s.phase = phase
	s.release()
}

// abandon emits the unfinished login and every command in flight as
// incomplete.
func (s *Session) abandon() {
	if s.connect != nil {
		ev := s.connect
		s.connect = nil
		ev.Incomplete = true
		s.emit(ev)
	}
	for s.qLen > 0 {
		s.finishHead(true)
	}
	s.upload = false
}

// release drops buffers once the session stops decoding.
func (s *Session) release() {
	for i := range s.dirs {
		s.dirs[i].fr.release()
		if z := s.dirs[i].inflate; z != nil {
			z.close()
			s.dirs[i].inflate = nil
		}
	}
	s.q = nil
	s.qHead = 0
	s.pendingReq = 0
	s.stmts.clear()
	s.params = paramDecoder{maxBytes: s.params.maxBytes}
	s.dropSpares()
}

func (s *Session) emit(ev *Event) {
	if s.cfg.Handler != nil {
		s.cfg.Handler(ev)
	}
}

// setSchema records a new current schema, allocating only on change.
func (s *Session) setSchema(name []byte) {
	if string(name) != s.schema {
		s.schema = string(name)
	}
}

// setPlugin records an auth plugin name, allocating only on change.
func (s *Session) setPlugin(name []byte) {
	if len(name) > 0 && string(name) != s.plugin {
		s.plugin = capString(name, 64)
	}
}

// copySQL copies at most maxSQL bytes of b (the available prefix of a
// statement whose full length is total) into a string, cutting at a UTF-8
// character boundary.
func (s *Session) copySQL(ev *Event, b []byte, total int) {
	ev.SQLLength = total
	n := min(len(b), s.maxSQL)
	if n < total {
		ev.SQLTruncated = true
		for i := 0; i < utf8.UTFMax && n > 0 && n < len(b) && !utf8.RuneStart(b[n]); i++ {
			n--
		}
	}
	ev.SQL = string(b[:n])
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// clientPacket handles a logical packet from the client.
func (s *Session) clientPacket(p *packet) {
	switch s.phase {
	case PhaseGreeting:
		s.desync(FromClient, p, "packet", 0, "client data before the server greeting")
	case PhaseHandshake:
		s.handshakeResponse(p)
	case PhaseAuth:
		// Auth data continues the login's numbering; a packet with seq 0 is
		// a command pipelined behind the HandshakeResponse (MariaDB
		// Connector/J, CONJ-463): its response follows the login's OK.
		if p.seq == 0 && p.length > 0 {
			s.startCommand(p)
			return
		}
		if s.connect != nil {
			s.connect.BytesIn += uint64(p.wire)
		}
	case PhaseCommand:
		if s.upload {
			// LOCAL INFILE contents, whatever they look like, until an
			// empty packet. Counted, never kept.
			s.head().ev.BytesIn += uint64(p.wire)
			if p.length == 0 {
				s.upload = false
			}
			return
		}
		if len(p.payload) == 0 && p.length > 0 {
			// Nothing was kept: the packet started as data (upload, auth)
			// and only finished after that state ended. Count it.
			if s.qLen > 0 {
				s.head().ev.BytesIn += uint64(p.wire)
			}
			return
		}
		if p.seq != 0 && s.inChangeUser() {
			// Auth data of a COM_CHANGE_USER exchange continues the
			// command's numbering; a packet with seq 0 is the next command,
			// possibly pipelined behind the last auth packet.
			s.tail().ev.BytesIn += uint64(p.wire)
			return
		}
		s.startCommand(p)
	}
}

// serverPacket handles a logical packet from the server.
func (s *Session) serverPacket(p *packet) {
	switch s.phase {
	case PhaseGreeting:
		s.greeting(p)
	case PhaseHandshake:
		// Only an ERR can precede the client's response (connect timeout,
		// "Bad handshake").
		if p.first() != headerErr {
			s.desync(FromServer, p, "packet", 0, "server packet before the client's HandshakeResponse")
			return
		}
		s.connect.BytesOut += uint64(p.wire)
		s.loginFailed(p)
	case PhaseAuth:
		s.authPacket(p)
	case PhaseCommand:
		s.commandResponse(p)
	}
}
