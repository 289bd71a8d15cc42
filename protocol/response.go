package protocol

// Generic response packets: OK, EOF and ERR.

// okPacket is the part of an OK (or EOF) packet a Session uses.
type okPacket struct {
	affected uint64
	insertID uint64
	status   StatusFlag
	warnings uint16
}

// parseOK decodes an OK packet: header 0x00, or 0xFE when it ends a result
// set under CLIENT_DEPRECATE_EOF. With CLIENT_SESSION_TRACK it applies the
// schema changes of the session-state block to the session.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_ok_packet.html
// https://mariadb.com/kb/en/ok_packet/
//
//	u8      header                 0x00 or 0xFE
//	lenenc  affected_rows
//	lenenc  last_insert_id
//	u16     status_flags           (PROTOCOL_41)
//	u16     warnings               (PROTOCOL_41)
//	SESSION_TRACK:
//	  str<lenenc> info             (absent when empty and nothing changed)
//	  if status & SESSION_STATE_CHANGED: str<lenenc> state block
//	otherwise:
//	  str<EOF> info
//
// Only the fixed part must be well formed: info and the state block may be
// cut by the copy limit, and a malformed one is ignored, since the packet's
// end is known from its length anyway.
func (s *Session) parseOK(data []byte) (ok okPacket, off int, good bool) {
	pos := 1
	var st uint16
	var g bool
	if ok.affected, pos, g = readLenEncInt(data, pos); !g {
		return ok, pos, false
	}
	if ok.insertID, pos, g = readLenEncInt(data, pos); !g {
		return ok, pos, false
	}
	if st, pos, g = readU16(data, pos); !g {
		return ok, pos, false
	}
	ok.status = StatusFlag(st)
	if ok.warnings, pos, g = readU16(data, pos); !g {
		return ok, 0, true // tolerated: old servers
	}
	if !s.caps.Has(CapSessionTrack) || pos >= len(data) {
		return ok, 0, true
	}
	if pos, g = skipLenEncString(data, pos); !g {
		return ok, 0, true
	}
	if ok.status&StatusSessionStateChange != 0 {
		if block, _, g := readLenEncString(data, pos); g {
			s.sessionTrack(block)
		}
	}
	return ok, 0, true
}

// trackSchema is the session-state entry type of a schema change (0 system
// variable, 2 state change, 3 GTIDs, 4 and 5 transaction characteristics and
// state are skipped).
// https://dev.mysql.com/doc/dev/mysql-server/latest/mysql__com_8h.html (enum_session_state_type)
const trackSchema = 1

// sessionTrack walks a session-state block: { u8 type; str<lenenc> data }*.
// A schema entry's data is itself a str<lenenc> with the new schema name;
// other types are skipped by length.
func (s *Session) sessionTrack(block []byte) {
	pos := 0
	for pos < len(block) {
		typ, next, ok := readU8(block, pos)
		if !ok {
			return
		}
		data, next, ok := readLenEncString(block, next)
		if !ok {
			return
		}
		pos = next
		if typ == trackSchema {
			if name, _, ok := readLenEncString(data, 0); ok {
				s.setSchema(name)
			}
		}
	}
}

// parseEOF decodes an EOF packet (payload 5 bytes under PROTOCOL_41).
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_eof_packet.html
//
//	u8   header     0xFE
//	u16  warnings   (note: warnings first, the reverse of OK)
//	u16  status_flags
//
// A shorter packet (pre-4.1) yields zero status and warnings.
func parseEOF(data []byte) okPacket {
	var ok okPacket
	w, pos, g := readU16(data, 1)
	if !g {
		return ok
	}
	st, _, g := readU16(data, pos)
	if !g {
		return ok
	}
	ok.warnings, ok.status = w, StatusFlag(st)
	return ok
}

// parseTerminator decodes the 0xFE packet that ends column definitions or
// rows: an OK under CLIENT_DEPRECATE_EOF, an EOF otherwise.
func (s *Session) parseTerminator(data []byte) (okPacket, int, bool) {
	if s.caps.Has(CapDeprecateEOF) {
		return s.parseOK(data)
	}
	return parseEOF(data), 0, true
}

// isTerminator reports whether a packet in a row stream is the 0xFE
// terminator rather than a row. A text row whose first value is at least
// 16 MiB long also starts with 0xFE (an 8-byte lenenc), but such a row is at
// least 0xFFFFFF bytes long, so the logical length tells them apart.
// https://mariadb.com/kb/en/result-set-packets/ ; vitess isEOFPacket.
func isTerminator(p *packet) bool {
	return p.first() == headerEOF && p.length < MaxPacketPayload
}

// parseErr decodes an ERR packet.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_err_packet.html
// https://mariadb.com/kb/en/err_packet/
//
//	u8        header        0xFF
//	u16       error_code
//	u8        '#'           sql_state_marker, present only when the next
//	bytes[5]  sql_state     byte is '#'
//	str<EOF>  error_message
//
// The returned slices alias data.
func parseErr(data []byte) (code uint16, state, msg []byte, ok bool) {
	code, pos, ok := readU16(data, 1)
	if !ok {
		return 0, nil, nil, false
	}
	if pos < len(data) && data[pos] == '#' {
		if st, next, g := readBytes(data, pos+1, 5); g {
			state, pos = st, next
		}
	}
	return code, state, data[pos:], true
}

// isProgress reports whether p is a MariaDB progress report: an ERR packet
// with code 0xFFFF, sent mid-command to clients that enabled progress
// (MARIADB_CLIENT_PROGRESS). It is not an error and does not end anything.
// Code 0xFFFF is used for nothing else, so it is recognised whatever the
// capabilities.
// https://mariadb.com/kb/en/progress-reporting/ ; Connector/C ma_net_safe_read.
func isProgress(p *packet) bool {
	return len(p.payload) >= 3 && p.payload[0] == headerErr &&
		p.payload[1] == 0xFF && p.payload[2] == 0xFF
}

// setError copies an ERR packet into ev.
func (s *Session) setError(ev *Event, p *packet) bool {
	code, state, msg, ok := parseErr(p.payload)
	if !ok {
		return false
	}
	ev.ErrorCode = code
	ev.SQLState = string(state)
	ev.ErrorMessage = string(msg)
	return true
}
