package protocol

// Command phase: requests and their matching with responses.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html
//
// The server runs commands strictly in arrival order and finishes each answer
// before starting the next, so responses match requests first-in first-out,
// provided the decoder knows exactly where each response ends and which
// commands get none (STMT_CLOSE, STMT_SEND_LONG_DATA, QUIT). Every command is
// queued, zero-reply ones included, and their effects apply when they reach
// the head of the queue: a STMT_CLOSE pipelined behind an EXECUTE must not
// forget the statement before the EXECUTE's response is decoded.

// respKind says how a command's response is parsed.
type respKind uint8

const (
	respNone        respKind = iota // no response at all
	respResult                      // result stream: OK, ERR, result sets (§7.3); also "Simple" commands
	respPrepare                     // PREPARE_OK block or ERR (§9)
	respFetch                       // binary rows and a terminator, or ERR (§7.5)
	respFieldList                   // column definitions until a terminator, or ERR
	respStatistics                  // one bare text packet, or ERR
	respChangeUser                  // authentication exchange until OK/ERR
	respReplication                 // a replication or clone stream: decoding stops
)

// command is a command in flight and the parse state of its response.
type command struct {
	ev      *Event
	kind    respKind
	state   rsState
	started bool // a server packet for it arrived
	binary  bool // rows are binary (EXECUTE, BULK_EXECUTE)

	stmtID   uint32 // statement id as sent (EXECUTE, FETCH, CLOSE, ...)
	hasStmt  bool
	resolved bool // stmtID resolved and the statement's SQL attached

	left uint64 // column definitions / PREPARE packets still expected

	// req is the payload of an EXECUTE or BULK_EXECUTE, decoded when its
	// response starts (§0, §12): the framer's packet while the command is
	// handled at once, a copy (reqCopy) while it waits behind others, nil
	// when that copy was over budget (reqLost). reqLen is the full payload
	// length.
	req     []byte
	reqLen  int
	reqCopy bool
	reqLost bool

	// SEND_LONG_DATA: the parameter, the bytes sent, and whether the
	// statement was known when the command reached the head of the queue.
	param    uint16
	dataLen  uint64
	longData bool

	// prep holds the statement being created by a PREPARE.
	prep stmtInfo
	// user and schema of a COM_CHANGE_USER; option of a COM_SET_OPTION.
	user, schema string
	option       uint16
}

// Commands whose first byte is followed by a u32 statement id.
func hasStmtID(c Command) bool {
	switch c {
	case ComStmtExecute, ComStmtFetch, ComStmtClose, ComStmtReset,
		ComStmtSendLongData, ComStmtBulkExecute:
		return true
	}
	return false
}

// startCommand queues the client packet p as a new command.
func (s *Session) startCommand(p *packet) {
	if s.qLen >= maxInFlight {
		s.desync(FromClient, p, "command", 0, "too many commands in flight")
		return
	}
	ev := s.newEvent()
	ev.User, ev.Schema, ev.ClientAddr, ev.ConnID = s.user, s.schema, s.cfg.ClientAddr, s.connID
	ev.Sent, ev.BytesIn = p.start, uint64(p.wire)
	c := command{ev: ev, kind: respResult}
	data := p.payload
	if p.length == 0 {
		// An empty command packet: servers answer "unknown command".
		ev.Command = ComSleep
		s.push(c)
		return
	}
	cmd := Command(data[0])
	ev.Command = cmd
	if hasStmtID(cmd) {
		if id, _, ok := readU32(data, 1); ok {
			c.stmtID, c.hasStmt = id, true
		}
	}
	switch cmd {
	case ComQuit, ComStmtClose:
		c.kind = respNone
	case ComStmtSendLongData:
		c.kind = respNone
		c.param, _, _ = readU16(data, 5)
		c.dataLen = uint64(max(p.length-7, 0))
	case ComQuery:
		s.querySQL(ev, p)
	case ComInitDB, ComCreateDB, ComDropDB:
		s.copySQL(ev, data[1:], p.length-1)
	case ComStmtPrepare:
		c.kind = respPrepare
		s.copySQL(ev, data[1:], p.length-1)
	case ComStmtExecute, ComStmtBulkExecute:
		c.binary = true
		if c.hasStmt {
			c.req, c.reqLen = data, p.length
		}
	case ComStmtFetch:
		c.kind = respFetch
	case ComFieldList:
		c.kind = respFieldList
	case ComStatistics:
		c.kind = respStatistics
	case ComChangeUser:
		c.kind = respChangeUser
		if cu, ok := parseChangeUser(data, s.caps); ok {
			c.user, c.schema = string(cu.user), string(cu.schema)
		}
		s.dirs[FromClient].fr.wipe() // it carried the auth response
	case ComSetOption:
		c.option, _, _ = readU16(data, 1)
	case ComBinlogDump, ComClone, ComSubscribeGRS:
		c.kind = respReplication
	case ComBinlogDumpGTID:
		if s.flavor != FlavorMariaDB { // MariaDB: COM_UNSUPPORTED, answered by ERR
			c.kind = respReplication
		}
	}
	s.push(c)
	if s.qLen == 1 {
		// At the head of the queue: every earlier response is in, so the
		// statement table is as the server has it. Resolve the statement
		// (and decode the parameters) now, while the packet is at hand.
		s.resolve(s.head())
		if s.phase == PhaseCommand {
			s.drainZeroReply()
		}
	} else if t := s.tail(); t.req != nil {
		// Behind other commands (pipelined): decode when the response
		// starts, from a copy.
		s.keepRequest(t, t.req)
	}
}

// querySQL extracts the SQL of a COM_QUERY.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query.html
//
//	u8  0x03
//	if CLIENT_QUERY_ATTRIBUTES:
//	    lenenc parameter_count
//	    lenenc parameter_set_count                   always 1
//	    if parameter_count > 0:
//	        bytes[(parameter_count+7)/8] null_bitmap
//	        u8  new_params_bind_flag                 always 1
//	        parameter_count × (u16 type_and_flag, str<lenenc> name)
//	        values of the non-NULL parameters, binary encoding
//	str<EOF> query
//
// With QUERY_ATTRIBUTES every COM_QUERY carries the prefix, "03 00 01" when
// there are no attributes. If the prefix cannot be walked the SQL is left
// empty and marked truncated.
func (s *Session) querySQL(ev *Event, p *packet) {
	data := p.payload
	pos := 1
	if s.caps.Has(CapQueryAttributes) {
		var ok bool
		pos, ok = s.queryAttributes(ev, data, pos)
		if !ok {
			ev.SQLTruncated = true
			ev.SQLLength = p.length - 1
			return
		}
	}
	s.copySQL(ev, data[pos:], p.length-pos)
}

// maxQueryAttrs bounds the query attributes copied into an Event.
const maxQueryAttrs = 16

// queryAttributes walks the query-attribute prefix of a COM_QUERY from pos,
// records the attributes in ev and returns the position of the SQL.
func (s *Session) queryAttributes(ev *Event, data []byte, pos int) (int, bool) {
	count, pos, ok := readLenEncInt(data, pos)
	if !ok {
		return pos, false
	}
	if _, pos, ok = readLenEncInt(data, pos); !ok { // parameter_set_count
		return pos, false
	}
	if count == 0 {
		return pos, true
	}
	if count > uint64(len(data)) { // each parameter needs at least 3 bytes
		return pos, false
	}
	n := int(count)
	nulls, pos, ok := readBytes(data, pos, (n+7)/8)
	if !ok {
		return pos, false
	}
	bound, pos, ok := readU8(data, pos)
	if !ok || bound != 1 {
		return pos, false
	}
	// Types and names come first, then the values: walk both lists with two
	// cursors, the second starting where the first list ends.
	types := pos
	vals := pos
	for range n {
		if vals, ok = skipTypeAndName(data, vals); !ok {
			return vals, false
		}
	}
	for i := range n {
		typ, next, _ := readU16(data, types)
		name, next, _ := readLenEncString(data, next)
		types = next
		if nulls[i/8]&(1<<(i%8)) != 0 {
			if len(ev.QueryAttributes) < maxQueryAttrs {
				ev.QueryAttributes = append(ev.QueryAttributes, Attr{Key: string(name)})
			}
			continue
		}
		v, next, _, st := paramValue(data, vals, FieldType(typ), s.flavor == FlavorMariaDB)
		if st != valueOK && st != valueNone {
			return vals, false
		}
		vals = next
		if len(ev.QueryAttributes) < maxQueryAttrs {
			ev.QueryAttributes = append(ev.QueryAttributes,
				Attr{Key: string(name), Value: formatBinaryValue(v, FieldType(typ), typ&0x8000 != 0)})
		}
	}
	return vals, true
}

// skipTypeAndName skips one (u16 type_and_flag, str<lenenc> name) entry.
func skipTypeAndName(data []byte, pos int) (int, bool) {
	if _, next, ok := readU16(data, pos); ok {
		return skipLenEncString(data, next)
	}
	return pos, false
}

// commandResponse hands a command-phase server packet to the head of the
// queue.
func (s *Session) commandResponse(p *packet) {
	if s.qLen == 0 {
		s.unsolicitedPacket(p)
		return
	}
	c := s.head()
	c.ev.BytesOut += uint64(p.wire)
	if !c.started {
		c.started = true
		c.ev.FirstResponse = p.start
		s.resolve(c)
	}
	if isProgress(p) {
		return
	}
	var done bool
	switch c.kind {
	case respResult:
		done = s.resultStream(c, p)
	case respPrepare:
		done = s.prepareResponse(c, p)
	case respFetch:
		done = s.fetchResponse(c, p)
	case respFieldList:
		done = s.fieldListResponse(c, p)
	case respStatistics:
		if p.first() == headerErr {
			s.setError(c.ev, p)
		} else {
			c.ev.Results = 1
		}
		done = true
	case respChangeUser:
		done = s.changeUserResponse(c, p)
	case respReplication:
		if p.first() == headerErr {
			s.setError(c.ev, p)
			done = true
			break
		}
		// The stream never ends in a way we follow: stop decoding. The
		// command is emitted as incomplete.
		s.stop(PhaseReplication)
		return
	default: // respNone: a reply to a no-reply command
		s.desync(FromServer, p, "response", 0, "response to a command that gets none: "+c.ev.Command.String())
		return
	}
	if done && s.phase.Decoding() {
		s.complete()
	}
}

// unsolicitedPacket records a server packet that arrived with nothing in
// flight: MySQL ≥ 8.0.24 sends ERR 4031 before closing an idle connection,
// shutdown and KILL may send an ERR too. It does not desync the session.
func (s *Session) unsolicitedPacket(p *packet) {
	s.unsolicited++
	if p.first() == headerErr && !isProgress(p) {
		if code, state, msg, ok := parseErr(p.payload); ok {
			s.lastUnsol = &ServerError{Code: code, SQLState: string(state), Message: string(msg)}
		}
	}
}

// changeUserResponse follows the authentication exchange of a
// COM_CHANGE_USER (§11): MariaDB always answers with an AuthSwitchRequest
// first. On OK the session is reset: new user and schema, no prepared
// statements. On ERR the server may or may not have reset the session, so
// the statement table is kept as it is and trusted only as far as the
// server confirms it: statement commands never depend on it to find where
// a response ends, their parameters are decoded leniently (what fails to
// decode is marked undecodable), and an ERR 1243 (unknown statement) makes
// the session forget that statement (applyErr).
func (s *Session) changeUserResponse(c *command, p *packet) bool {
	kind, name := classifyAuth(p, s.flavor)
	s.setPlugin(name)
	switch kind {
	case authErr:
		s.setError(c.ev, p)
		return true
	case authOK:
		s.user, s.schema = c.user, c.schema
		s.resetSession()
		return s.okResult(c, p)
	}
	return false
}

// resetSession forgets what COM_RESET_CONNECTION and COM_CHANGE_USER drop:
// prepared statements and the "last prepared" statement.
func (s *Session) resetSession() {
	s.stmts.clear()
}

// applyOK applies the side effects of a successful simple command.
func (s *Session) applyOK(c *command) {
	switch c.ev.Command {
	case ComInitDB:
		if !c.ev.SQLTruncated && c.ev.SQL != s.schema {
			s.schema = c.ev.SQL
		}
	case ComResetConnection:
		s.resetSession()
	case ComSetOption:
		switch c.option {
		case 0:
			s.multiStmt = true
		case 1:
			s.multiStmt = false
		}
	case ComStmtReset:
		// Closes the cursor and forgets the long data; the statement and
		// its types stay.
		if st, ok := s.stmts.lookup(c.ev.StmtID); ok {
			st.cursor = false
			st.clearLongData()
			s.stmts.update(c.ev.StmtID, st)
		}
	}
}

// errUnknownStmtHandler is ER_UNKNOWN_STMT_HANDLER: the statement id a
// command named does not exist on the server.
const errUnknownStmtHandler = 1243

// applyErr applies what an ERR ending a command's response says about the
// session. A statement the server does not know is forgotten: after a
// failed COM_CHANGE_USER (which may or may not have reset the session, §11)
// or a capture that missed a close, the table heals itself this way.
func (s *Session) applyErr(c *command) {
	if c.ev.ErrorCode == errUnknownStmtHandler && c.hasStmt && c.resolved {
		s.stmts.remove(c.ev.StmtID)
	}
}

// applyZeroReply applies the effect of a command that gets no response,
// once it reaches the head of the queue.
func (s *Session) applyZeroReply(c *command) {
	switch {
	case !c.resolved:
	case c.ev.Command == ComStmtClose:
		s.stmts.remove(c.ev.StmtID)
	case c.ev.Command == ComStmtSendLongData:
		s.sendLongData(c)
	}
}

// complete finishes the head command and then every zero-reply command that
// reaches the head.
func (s *Session) complete() {
	s.finishHead(false)
	s.drainZeroReply()
}

// drainZeroReply finishes zero-reply commands at the head of the queue.
func (s *Session) drainZeroReply() {
	for s.qLen > 0 && s.phase == PhaseCommand && s.head().kind == respNone {
		s.finishHead(false)
	}
}

// finishHead pops the head command and emits its event.
func (s *Session) finishHead(incomplete bool) {
	c := s.head()
	ev := c.ev
	s.resolve(c)
	ev.Start = later(ev.Sent, s.lastEnd)
	switch {
	case c.kind == respNone:
		ev.End = ev.Start
		s.applyZeroReply(c)
	case incomplete:
		ev.Incomplete = true
	default:
		ev.End = s.now
		if ev.ErrorCode != 0 {
			s.applyErr(c)
		}
	}
	if !ev.End.IsZero() {
		s.lastEnd = ev.End
	}
	s.pop()
	s.upload = false
	s.emit(ev)
}

// The queue of commands in flight is a ring buffer that grows by doubling.

func (s *Session) head() *command { return &s.q[s.qHead] }

func (s *Session) tail() *command { return &s.q[(s.qHead+s.qLen-1)%len(s.q)] }

// inChangeUser reports whether the newest command is a COM_CHANGE_USER
// still in flight: client packets may then be its auth data.
func (s *Session) inChangeUser() bool { return s.qLen > 0 && s.tail().kind == respChangeUser }

func (s *Session) push(c command) {
	if s.qLen == len(s.q) {
		q := make([]command, max(4, 2*len(s.q)))
		for i := range s.qLen {
			q[i] = s.q[(s.qHead+i)%len(s.q)]
		}
		s.q, s.qHead = q, 0
	}
	s.q[(s.qHead+s.qLen)%len(s.q)] = c
	s.qLen++
}

func (s *Session) pop() {
	s.q[s.qHead] = command{}
	s.qHead = (s.qHead + 1) % len(s.q)
	s.qLen--
}
