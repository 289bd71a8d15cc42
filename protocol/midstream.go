package protocol

// Sessions that start in the middle of a connection.
//
// A packet capture started after a connection was opened has no greeting
// and no HandshakeResponse: the capabilities that shape the wire, the user,
// the schema, the server flavor and the prepared statements are unknown. A
// reader that finds a command boundary in such a stream (a client packet
// with sequence id 0 that starts a command, and the server's reply to it)
// can still decode from there with a session in the command phase, given
// what it knows or assumes about the connection.

// Midstream is what is known, or assumed, about a connection whose
// handshake was not seen. Fields left zero are unknown: the events of the
// session carry an empty User and Schema (until COM_INIT_DB, session
// tracking or COM_CHANGE_USER says otherwise) and ConnID 0.
type Midstream struct {
	// Caps are the effective capabilities (client ∩ server) assumed for
	// the connection. Those that shape the wire matter:
	// CapDeprecateEOF (how result sets end), CapQueryAttributes (the
	// prefix of COM_QUERY), CapSessionTrack (schema changes in OK
	// packets), CapOptionalResultsetMetadata and CapMariaDBCacheMetadata
	// (a byte after the column count) and CapMultiStatements.
	Caps CapabilityFlag
	// Flavor of the server, when known (it changes how EXECUTE parameters
	// are read and what MariaDB's statement id 0xFFFFFFFF means).
	Flavor        Flavor
	ServerVersion string
	ConnID        uint32
	User          string
	Schema        string
	// Compression is the compressed protocol in use, if any: the bytes fed
	// in both directions are then compressed frames.
	Compression Compression
}

// NewMidstreamSession returns a Session in the command phase for a
// connection whose start was not seen, decoding as m describes. The first
// bytes fed in each direction must start a packet (a compressed frame under
// compression): from the client, a command; from the server, the response to
// the first command fed. No ComConnect event is emitted. Prepared statements
// created before the session started are unknown: their executions carry an
// empty SQL and undecodable parameters.
func NewMidstreamSession(cfg SessionConfig, m Midstream) *Session {
	s := NewSession(cfg)
	s.phase = PhaseCommand
	s.caps, s.clientCaps, s.serverCaps = m.Caps, m.Caps, m.Caps
	s.flavor = m.Flavor
	s.version = m.ServerVersion
	s.connID = m.ConnID
	s.user = m.User
	s.schema = m.Schema
	s.multiStmt = m.Caps.Has(CapMultiStatements)
	if m.Compression != CompressionNone {
		s.startCompression(m.Compression)
	}
	return s
}
