package protocol

// Result streams: the response of COM_QUERY, COM_STMT_EXECUTE,
// COM_STMT_BULK_EXECUTE, the "Simple" commands and unknown commands.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response.html
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html
// https://mariadb.com/kb/en/result-set-packets/
//
//	FIRST    0x00 OK   → MORE_RESULTS ? FIRST : DONE
//	         0xFF ERR  → DONE (an ERR ends the whole chain)
//	         0xFE      → EOF-style success (SET_OPTION, DEBUG) → as OK
//	         0xFB      → LOCAL INFILE request (COM_QUERY only): the client
//	                     uploads, then the server answers as in FIRST
//	         else      → lenenc column count [u8 metadata_follows] → COLDEFS,
//	                     or METAEND when the metadata is skipped
//	COLDEFS  n column definitions → METAEND
//	METAEND  without DEPRECATE_EOF one EOF (also when the metadata was
//	         skipped); CURSOR_EXISTS in it → DONE (rows come via FETCH)
//	ROWS     0xFE and length < 0xFFFFFF → terminator: MORE_RESULTS ? FIRST : DONE
//	         0xFF → ERR → DONE
//	         else → one row
//
// Rows are counted from their first byte and length alone; nothing in them is
// decoded or copied. A binary row starts 0x00, so in a binary result 0x00 is
// always a row, and a 0xFE with CURSOR_EXISTS right after the metadata is the
// cursor's status packet (an ordinary terminator with no rows before it).

// rsState is the position in a response.
type rsState uint8

const (
	rsFirst   rsState = iota // expecting the first packet of a result
	rsColDefs                // column definitions (or PREPARE packets) to come
	rsMetaEOF                // expecting the EOF that ends the metadata
	rsRows                   // rows until a terminator
)

// resultStream handles one packet of a result stream and reports whether the
// response is complete.
func (s *Session) resultStream(c *command, p *packet) bool {
	switch c.state {
	case rsFirst:
		switch b := p.first(); {
		case b == headerOK:
			return s.okResult(c, p)
		case b == headerErr:
			s.errResult(c, p)
			return true
		case b == headerEOF:
			return s.terminator(c, p)
		case b == headerLocalInfile && c.ev.Command == ComQuery:
			// LOCAL INFILE request: u8 0xFB, str<EOF> filename. Client
			// packets are now file data until an empty one.
			// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_local_infile_request.html
			s.upload = true
			return false
		case b < 0:
			s.desync(FromServer, p, "result", 0, "empty packet at the start of a result")
			return false
		}
		n, pos, ok := readLenEncInt(p.payload, 0)
		if !ok || n == 0 {
			s.desync(FromServer, p, "column count", 0, "not a column count, OK, ERR or LOCAL INFILE request")
			return false
		}
		// OPTIONAL_RESULTSET_METADATA (MySQL) and CACHE_METADATA (MariaDB)
		// add u8 metadata_follows after the count; ignore further bytes.
		follows := true
		if s.caps&(CapOptionalResultsetMetadata|CapMariaDBCacheMetadata) != 0 && pos < len(p.payload) {
			follows = p.payload[pos] != 0
		}
		if follows {
			c.left = n
			c.state = rsColDefs
		} else {
			s.metaEnd(c)
		}
		return false
	case rsColDefs:
		// ColumnDefinition41 packets (they start 03 'def'); an ERR ends.
		if p.first() == headerErr {
			s.errResult(c, p)
			return true
		}
		c.left--
		if c.left == 0 {
			s.metaEnd(c)
		}
		return false
	case rsMetaEOF:
		switch p.first() {
		case headerErr:
			s.errResult(c, p)
			return true
		case headerEOF:
			eof := parseEOF(p.payload)
			if eof.status&StatusCursorExists != 0 {
				return s.endResult(c, eof)
			}
			s.status = eof.status
			c.state = rsRows
			return false
		}
		s.desync(FromServer, p, "EOF", 0, "column definitions not followed by EOF")
		return false
	default: // rsRows
		if isTerminator(p) {
			return s.terminator(c, p)
		}
		if p.first() == headerErr {
			s.errResult(c, p)
			return true
		}
		c.ev.RowsSent++
		return false
	}
}

// skipRows counts the row packets at the front of data for c, a result
// stream in rsRows, and returns the bytes they take. It is resultStream's
// row case without the framing: a row that sits whole in the chunk needs
// neither a copy nor a packet, only its length and first byte. It stops at
// the first packet that is not plainly a row (a terminator, an ERR or
// progress report, an empty or 16 MiB packet, one cut by the chunk's end)
// and leaves it to the framer.
func skipRows(c *command, data []byte) int {
	n, rows := 0, 0
	for len(data)-n > packetHeaderSize {
		size := int(data[n]) | int(data[n+1])<<8 | int(data[n+2])<<16
		if size == 0 || size == MaxPacketPayload || len(data)-n-packetHeaderSize < size {
			break
		}
		if b := data[n+packetHeaderSize]; b == headerEOF || b == headerErr {
			break
		}
		n += packetHeaderSize + size
		rows++
	}
	if rows > 0 {
		c.ev.RowsSent += uint64(rows)
		c.ev.BytesOut += uint64(n)
	}
	return n
}

// metaEnd moves past the column definitions.
func (s *Session) metaEnd(c *command) {
	if s.caps.Has(CapDeprecateEOF) {
		c.state = rsRows
	} else {
		c.state = rsMetaEOF
	}
}

// okResult handles an OK packet ending one result of the response.
func (s *Session) okResult(c *command, p *packet) bool {
	ok, off, good := s.parseOK(p.payload)
	if !good {
		s.desync(FromServer, p, "OK", off, "malformed OK packet")
		return false
	}
	return s.endResult(c, ok)
}

// terminator handles the 0xFE packet ending rows or metadata, or the
// EOF-style answer of a Simple command.
func (s *Session) terminator(c *command, p *packet) bool {
	ok, off, good := s.parseTerminator(p.payload)
	if !good {
		s.desync(FromServer, p, "EOF", off, "malformed terminator")
		return false
	}
	return s.endResult(c, ok)
}

// endResult accounts for one finished result and reports whether the
// response is complete (no MORE_RESULTS_EXISTS).
func (s *Session) endResult(c *command, ok okPacket) bool {
	ev := c.ev
	ev.Results++
	ev.RowsAffected += ok.affected
	if ok.insertID != 0 {
		ev.LastInsertID = ok.insertID
	}
	ev.Warnings += uint64(ok.warnings)
	ev.Status = uint16(ok.status)
	s.status = ok.status
	if c.binary && ok.status&StatusCursorExists != 0 {
		s.stmts.setCursor(ev.StmtID, true)
	}
	if ok.status&StatusMoreResultsExist != 0 && c.kind == respResult {
		c.state = rsFirst
		return false
	}
	s.applyOK(c)
	return true
}

// errResult records an ERR packet ending the response.
func (s *Session) errResult(c *command, p *packet) {
	if !s.setError(c.ev, p) {
		s.desync(FromServer, p, "ERR", 1, "short ERR packet")
	}
}

// fetchResponse handles the answer to COM_STMT_FETCH: binary rows, then a
// terminator with CURSOR_EXISTS (more rows left) or LAST_ROW_SENT, or ERR.
// There is no metadata: it came with the EXECUTE that opened the cursor.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_fetch.html
func (s *Session) fetchResponse(c *command, p *packet) bool {
	switch {
	case isTerminator(p):
		ok, off, good := s.parseTerminator(p.payload)
		if !good {
			s.desync(FromServer, p, "EOF", off, "malformed terminator")
			return false
		}
		if ok.status&StatusLastRowSent != 0 {
			s.stmts.setCursor(c.ev.StmtID, false)
		}
		return s.endResult(c, ok)
	case p.first() == headerErr:
		s.errResult(c, p)
		return true
	}
	c.ev.RowsSent++
	return false
}

// fieldListResponse handles the answer to COM_FIELD_LIST: column definitions
// (with a default-value field) until a terminator, or ERR.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_field_list.html
func (s *Session) fieldListResponse(c *command, p *packet) bool {
	switch {
	case isTerminator(p):
		return s.terminator(c, p)
	case p.first() == headerErr:
		s.errResult(c, p)
		return true
	}
	return false
}
