package protocol

import (
	"bytes"
	"strings"
)

// Connection phase: greeting, SSLRequest, HandshakeResponse41 and the
// authentication exchange.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html
// https://mariadb.com/kb/en/connection/

// protocolVersion10 is the first byte of a HandshakeV10 greeting.
const protocolVersion10 = 0x0A

// mariaDBVersionPrefix is what MariaDB < 11 puts in front of its version so
// that old MySQL clients accept it ("5.5.5-10.11.9-MariaDB").
const mariaDBVersionPrefix = "5.5.5-"

// sslRequestLength is the payload length of an SSLRequest: the first 32
// bytes of a HandshakeResponse41.
const sslRequestLength = 32

// greeting holds what Session keeps of a HandshakeV10. Slices alias the
// payload.
type greeting struct {
	version []byte
	connID  uint32
	caps    CapabilityFlag
	plugin  []byte
}

// parseGreeting decodes a HandshakeV10 payload.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_v10.html
//
//	u8        protocol_version          0x0A
//	str<NUL>  server_version
//	u32       connection_id
//	bytes[8]  auth_plugin_data_part_1
//	u8        filler                    0x00
//	u16       capability_flags_lower
//	u8        character_set             (optional from here on)
//	u16       status_flags
//	u16       capability_flags_upper
//	u8        auth_plugin_data_len      21 with CLIENT_PLUGIN_AUTH (counts a NUL), else 0
//	bytes[6]  reserved
//	u32       MariaDB extended caps iff bit 0 (CLIENT_MYSQL) is clear; MySQL: reserved
//	bytes[max(13, auth_plugin_data_len-8)]  auth_plugin_data_part_2   (SECURE_CONNECTION)
//	str<NUL>  auth_plugin_name          (PLUGIN_AUTH; some 5.5 servers omit the NUL)
//
// The scramble is skipped: a passive observer has no use for it.
func parseGreeting(data []byte) (g greeting, off int, reason string) {
	pos := 1
	var ok bool
	if g.version, pos, ok = readNullString(data, pos); !ok {
		return g, pos, "server version without NUL"
	}
	if g.connID, pos, ok = readU32(data, pos); !ok {
		return g, pos, "short connection id"
	}
	if _, pos, ok = readBytes(data, pos, 8+1); !ok {
		return g, pos, "short scramble"
	}
	lo, pos, ok := readU16(data, pos)
	if !ok {
		return g, pos, "short capability flags"
	}
	g.caps = CapabilityFlag(lo)
	if pos == len(data) {
		return g, 0, "" // pre-4.1 style greeting ends here
	}
	// character_set u8, status u16: skipped.
	if pos+3 > len(data) {
		return g, pos, "short status"
	}
	pos += 3
	hi, pos, ok := readU16(data, pos)
	if !ok {
		return g, pos, "short upper capability flags"
	}
	g.caps |= CapabilityFlag(hi) << 16
	authLen, pos, ok := readU8(data, pos)
	if !ok {
		return g, pos, "short auth data length"
	}
	if pos+6 > len(data) {
		return g, pos, "short reserved bytes"
	}
	pos += 6
	ext, pos, ok := readU32(data, pos)
	if !ok {
		return g, pos, "short reserved bytes"
	}
	if !g.caps.Has(CapLongPassword) {
		g.caps |= CapabilityFlag(ext) << 32
	}
	if g.caps.Has(CapSecureConnection) {
		n := max(13, int(authLen)-8)
		if _, pos, ok = readBytes(data, pos, n); !ok {
			// Some servers send only 12 bytes without the NUL.
			pos = len(data)
		}
	}
	if g.caps.Has(CapPluginAuth) {
		g.plugin, _ = readNullStringOrEOF(data, pos)
	}
	return g, 0, ""
}

// flavorOf derives the server flavor from the greeting.
func flavorOf(version []byte, caps CapabilityFlag) Flavor {
	if bytes.Contains(bytes.ToLower(version), []byte("mariadb")) || !caps.Has(CapLongPassword) {
		return FlavorMariaDB
	}
	return FlavorMySQL
}

// cleanVersion strips MariaDB's "5.5.5-" compatibility prefix.
func cleanVersion(version []byte) string {
	v := string(version)
	if strings.HasPrefix(v, mariaDBVersionPrefix) && strings.Contains(v, "MariaDB") {
		v = v[len(mariaDBVersionPrefix):]
	}
	return v
}

// handshakeResponse holds what Session keeps of a HandshakeResponse41. The
// auth response is skipped, never kept. Slices alias the payload.
type handshakeResponse struct {
	caps     CapabilityFlag // as sent by the client, extended caps included
	user     []byte
	schema   []byte
	plugin   []byte
	attrs    []Attr
	ssl      bool // an SSLRequest, not a full response
	proto320 bool // HandshakeResponse320: not decoded
}

// Limits on the connection attributes kept per session.
const (
	maxConnAttrs    = 32
	maxConnAttrSize = 256
)

// parseHandshakeResponse decodes an SSLRequest or a HandshakeResponse41.
// serverCaps are the greeting's capabilities: fields are read according to
// the effective capabilities (client ∩ server).
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_response.html
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_ssl_request.html
//
//	u32       client_flag
//	u32       max_packet_size
//	u8        character_set
//	bytes[23] filler                 MariaDB: payload[28..31] = extended caps iff bit 0 clear
//	-- an SSLRequest ends here (payload length 32 with CLIENT_SSL) --
//	str<NUL>  username
//	auth_response  PLUGIN_AUTH_LENENC_CLIENT_DATA ? str<lenenc>
//	               : SECURE_CONNECTION ? (u8 length, bytes) : str<NUL>
//	str<NUL>  database               if CONNECT_WITH_DB (tolerate absence)
//	str<NUL>  client_plugin_name     if PLUGIN_AUTH (tolerate a missing NUL)
//	lenenc    attributes length      if CONNECT_ATTRS, then (str<lenenc> key, str<lenenc> value)*
//	u8        zstd_compression_level if ZSTD_COMPRESSION_ALGORITHM
func parseHandshakeResponse(data []byte, serverCaps CapabilityFlag) (r handshakeResponse, off int, reason string) {
	lo, pos, ok := readU32(data, 0)
	if !ok {
		// Older clients send a 2-byte HandshakeResponse320 flag word.
		if len(data) >= 2 && data[1]&byte(CapProtocol41>>8) == 0 {
			r.proto320 = true
			return r, 0, ""
		}
		return r, 0, "short capability flags"
	}
	r.caps = CapabilityFlag(lo)
	if !r.caps.Has(CapProtocol41) {
		r.proto320 = true
		return r, 0, ""
	}
	if len(data) < sslRequestLength {
		return r, len(data), "short fixed part"
	}
	if !r.caps.Has(CapLongPassword) {
		ext, _, _ := readU32(data, 28)
		r.caps |= CapabilityFlag(ext) << 32
	}
	if len(data) == sslRequestLength && r.caps.Has(CapSSL) {
		r.ssl = true
		return r, 0, ""
	}
	caps := r.caps & serverCaps
	pos = sslRequestLength
	if r.user, pos, ok = readNullString(data, pos); !ok {
		return r, pos, "user name without NUL"
	}
	switch {
	case caps.Has(CapPluginAuthLenenc):
		pos, ok = skipLenEncString(data, pos)
	case caps.Has(CapSecureConnection):
		var n uint8
		if n, pos, ok = readU8(data, pos); ok {
			_, pos, ok = readBytes(data, pos, int(n))
		}
	default:
		_, pos, ok = readNullString(data, pos)
	}
	if !ok {
		return r, pos, "malformed auth response"
	}
	if caps.Has(CapConnectWithDB) && pos < len(data) {
		r.schema, pos = readNullStringOrEOF(data, pos)
	}
	if caps.Has(CapPluginAuth) && pos < len(data) {
		r.plugin, pos = readNullStringOrEOF(data, pos)
	}
	if caps.Has(CapConnectAttrs) && pos < len(data) {
		r.attrs = parseConnAttrs(data, pos)
	}
	return r, 0, ""
}

// parseConnAttrs decodes connection attributes: lenenc total length, then
// (str<lenenc> key, str<lenenc> value) pairs. It keeps at most maxConnAttrs
// pairs, each cut to maxConnAttrSize bytes, and stops quietly at the first
// malformed pair: attributes never desync a session.
func parseConnAttrs(data []byte, pos int) []Attr {
	total, pos, ok := readLenEncInt(data, pos)
	if !ok {
		return nil
	}
	end := len(data)
	if total < uint64(end-pos) {
		end = pos + int(total)
	}
	data = data[:end]
	var attrs []Attr
	for pos < len(data) && len(attrs) < maxConnAttrs {
		k, next, ok := readLenEncString(data, pos)
		if !ok {
			break
		}
		v, next, ok := readLenEncString(data, next)
		if !ok {
			break
		}
		pos = next
		attrs = append(attrs, Attr{Key: capString(k, maxConnAttrSize), Value: capString(v, maxConnAttrSize)})
	}
	return attrs
}

// capString copies at most n bytes of b into a string.
func capString(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// changeUser holds the decoded fields of a COM_CHANGE_USER request.
type changeUser struct {
	user, schema []byte
	plugin       []byte
}

// parseChangeUser decodes a COM_CHANGE_USER request; the auth response is
// skipped, never kept.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_change_user.html
// https://mariadb.com/kb/en/com_change_user/
//
//	u8        0x11
//	str<NUL>  user
//	auth      SECURE_CONNECTION ? (u8 length, bytes) : str<NUL>   (never lenenc)
//	str<NUL>  schema
//	u16       character set           if more data
//	str<NUL>  auth plugin             if PLUGIN_AUTH
//	lenenc    attributes length + attributes   if CONNECT_ATTRS
func parseChangeUser(data []byte, caps CapabilityFlag) (cu changeUser, ok bool) {
	pos := 1
	if cu.user, pos, ok = readNullString(data, pos); !ok {
		return cu, false
	}
	if caps.Has(CapSecureConnection) {
		var n uint8
		if n, pos, ok = readU8(data, pos); ok {
			_, pos, ok = readBytes(data, pos, int(n))
		}
	} else {
		_, pos, ok = readNullString(data, pos)
	}
	if !ok {
		return cu, false
	}
	if pos >= len(data) {
		return cu, true
	}
	cu.schema, pos = readNullStringOrEOF(data, pos)
	if caps.Has(CapPluginAuth) && pos+2 < len(data) {
		cu.plugin, _ = readNullStringOrEOF(data, pos+2)
	}
	return cu, true
}

// authReply classifies a server packet of an authentication exchange
// (connection phase or COM_CHANGE_USER).
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_auth_switch_request.html
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_auth_more_data.html
//
//	0x00  OK: authentication done
//	0xFF  ERR: authentication failed
//	0xFE  AuthSwitchRequest: str<NUL> plugin, str<EOF> data (a 1-byte payload
//	      asks for mysql_old_password)
//	0x01  AuthMoreData: str<EOF> data
//	0x02  AuthNextFactor (MySQL): str<NUL> plugin, str<EOF> data
//	other raw plugin data: MariaDB prefixes 0x01 only when the data starts
//	      with 0x01, 0xFE or 0xFF
type authReply uint8

const (
	authContinue authReply = iota
	authOK
	authErr
)

// classifyAuth returns the kind of an auth-exchange server packet and, for a
// switch or next-factor request, the new plugin name. Next-factor requests
// exist only on MySQL: in a MariaDB dialog a packet starting 0x02 is raw
// plugin data (PAM's "password prompt").
func classifyAuth(p *packet, flavor Flavor) (authReply, []byte) {
	switch p.first() {
	case headerOK:
		return authOK, nil
	case headerErr:
		return authErr, nil
	case headerEOF:
		if p.length == 1 {
			return authContinue, []byte("mysql_old_password")
		}
		name, _ := readNullStringOrEOF(p.payload, 1)
		return authContinue, name
	case 0x02:
		name, _, ok := readNullString(p.payload, 1)
		if ok && flavor == FlavorMySQL {
			return authContinue, name
		}
	}
	return authContinue, nil
}

// greeting handles the server's first packet: HandshakeV10 or ERR.
func (s *Session) greeting(p *packet) {
	s.connect = &Event{
		Command:       ComConnect,
		ClientAddr:    s.cfg.ClientAddr,
		Sent:          p.start,
		Start:         p.start,
		FirstResponse: p.start,
		BytesOut:      uint64(p.wire),
	}
	switch p.first() {
	case headerErr:
		s.loginFailed(p)
		return
	case protocolVersion10:
	default:
		s.desync(FromServer, p, "HandshakeV10", 0, "unsupported protocol version")
		return
	}
	g, off, reason := parseGreeting(p.payload)
	if reason != "" {
		s.desync(FromServer, p, "HandshakeV10", off, reason)
		return
	}
	s.flavor = flavorOf(g.version, g.caps)
	s.version = cleanVersion(g.version)
	s.connID = g.connID
	s.serverCaps = g.caps
	s.setPlugin(g.plugin)
	s.connect.ConnID = s.connID
	s.phase = PhaseHandshake
}

// handshakeResponse handles the client's SSLRequest or HandshakeResponse41.
func (s *Session) handshakeResponse(p *packet) {
	ev := s.connect
	ev.BytesIn += uint64(p.wire)
	r, off, reason := parseHandshakeResponse(p.payload, s.serverCaps)
	defer s.dirs[FromClient].fr.wipe() // it carried the auth response
	if reason != "" {
		s.desync(FromClient, p, "HandshakeResponse41", off, reason)
		return
	}
	if r.proto320 {
		s.stop(PhaseOpaque)
		return
	}
	s.clientCaps = r.caps
	s.caps = r.caps & s.serverCaps
	s.multiStmt = s.caps.Has(CapMultiStatements)
	if r.ssl {
		if !s.cfg.DecryptedTLS {
			s.stop(PhaseTLS)
		}
		return // the full response follows (seq 2), decrypted
	}
	s.user = string(r.user)
	s.schema = string(r.schema)
	s.setPlugin(r.plugin)
	s.attrs = r.attrs
	ev.User, ev.Schema = s.user, s.schema
	s.phase = PhaseAuth
}

// authPacket handles a server packet of the login's authentication exchange.
func (s *Session) authPacket(p *packet) {
	ev := s.connect
	ev.BytesOut += uint64(p.wire)
	kind, name := classifyAuth(p, s.flavor)
	s.setPlugin(name)
	switch kind {
	case authErr:
		s.loginFailed(p)
	case authOK:
		ok, off, good := s.parseOK(p.payload)
		if !good {
			s.desync(FromServer, p, "OK", off, "malformed OK ending authentication")
			return
		}
		s.status = ok.status
		ev.Status = uint16(ok.status)
		ev.Results = 1
		ev.Schema = s.schema
		ev.End = s.now
		s.lastEnd = s.now
		s.connect = nil
		s.phase = PhaseCommand
		s.emit(ev)
		// Compression starts with the next packet in both directions.
		switch {
		case s.caps.Has(CapCompress):
			s.startCompression(CompressionZlib)
		case s.caps.Has(CapZstdCompression):
			s.startCompression(CompressionZstd)
		}
		s.drainZeroReply()
	}
}

// loginFailed ends the login with the ERR packet p.
func (s *Session) loginFailed(p *packet) {
	ev := s.connect
	s.setError(ev, p)
	ev.End = s.now
	s.lastEnd = s.now
	s.connect = nil
	s.emit(ev)
	s.abandon() // commands pipelined behind the login
	s.phase = PhaseClosed
	s.release()
}
