package protocol

import (
	"math"
	"strconv"
)

// Prepared statements: the PREPARE_OK response, the per-connection statement
// table, statement-id resolution, and binary-protocol values.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_prepare.html
// https://mariadb.com/kb/en/com_stmt_prepare/

// mariaDBLastStmtID is the statement id MariaDB (≥ 10.2) reads as "the
// statement most recently prepared on this connection, if no PREPARE failed
// since"; it lets clients pipeline PREPARE + EXECUTE.
// https://mariadb.com/kb/en/com_stmt_execute/
const mariaDBLastStmtID = 0xFFFFFFFF

// stmtInfo is what a session remembers of a prepared statement.
type stmtInfo struct {
	sql          string
	sqlTruncated bool
	sqlLength    int
	params       uint16
	columns      uint16
	cursor       bool // a cursor is open (EXECUTE with CURSOR_EXISTS, not yet exhausted)
}

// Bounds of the statement table: servers allow ~16k statements per
// connection (max_prepared_stmt_count), we keep fewer and evict arbitrary
// ones beyond, so that a session's memory stays bounded.
const (
	maxStmts     = 4096
	maxStmtBytes = 8 << 20 // total SQL bytes kept
)

// stmtTable maps statement ids to statements.
type stmtTable struct {
	m      map[uint32]stmtInfo
	bytes  int
	last   uint32 // id of the last successful PREPARE
	lastOK bool   // last is valid: no PREPARE failed since
}

func (t *stmtTable) len() int { return len(t.m) }

func (t *stmtTable) add(id uint32, st stmtInfo) {
	if t.m == nil {
		t.m = make(map[uint32]stmtInfo)
	}
	t.remove(id)
	for k := range t.m {
		if len(t.m) < maxStmts && t.bytes+len(st.sql) <= maxStmtBytes {
			break
		}
		t.remove(k)
	}
	t.m[id] = st
	t.bytes += len(st.sql)
	t.last, t.lastOK = id, true
}

func (t *stmtTable) remove(id uint32) {
	if st, ok := t.m[id]; ok {
		t.bytes -= len(st.sql)
		delete(t.m, id)
	}
}

func (t *stmtTable) setCursor(id uint32, open bool) {
	if st, ok := t.m[id]; ok && st.cursor != open {
		st.cursor = open
		t.m[id] = st
	}
}

// prepareFailed records a failed PREPARE: MariaDB then rejects id -1.
func (t *stmtTable) prepareFailed() { t.lastOK = false }

func (t *stmtTable) clear() {
	clear(t.m)
	t.bytes = 0
	t.lastOK = false
}

// resolve attaches the statement a command refers to. It runs when the
// command's response starts (or when a zero-reply command reaches the head
// of the queue): every earlier response has been decoded by then, so the
// table is in the state the server had. MariaDB's id 0xFFFFFFFF becomes the
// last successfully prepared statement.
func (s *Session) resolve(c *command) {
	if c.resolved || !c.hasStmt {
		return
	}
	c.resolved = true
	id := c.stmtID
	if id == mariaDBLastStmtID && s.stmts.lastOK {
		id = s.stmts.last
	}
	ev := c.ev
	ev.StmtID = id
	if st, ok := s.stmts.m[id]; ok {
		ev.SQL, ev.SQLTruncated, ev.SQLLength = st.sql, st.sqlTruncated, st.sqlLength
	}
}

// prepareResponse handles the answer to COM_STMT_PREPARE: ERR, or
//
//	u8   status          0x00
//	u32  statement_id
//	u16  num_columns
//	u16  num_params
//	u8   reserved        0x00
//	u16  warning_count   (payload ≥ 12 bytes)
//	u8   metadata_follows  only with OPTIONAL_RESULTSET_METADATA
//
// then, as separate packets: num_params definitions and, without
// DEPRECATE_EOF, an EOF (when num_params > 0); the same for num_columns. The
// packets are counted exactly: with no parameters and no columns (DO 1) the
// 12-byte packet is the whole response and the next server packet already
// belongs to the next command.
func (s *Session) prepareResponse(c *command, p *packet) bool {
	ev := c.ev
	if c.state != rsFirst {
		c.left--
		return c.left == 0
	}
	switch p.first() {
	case headerErr:
		s.errResult(c, p)
		s.stmts.prepareFailed()
		return true
	case headerOK:
	default:
		s.desync(FromServer, p, "PREPARE_OK", 0, "not PREPARE_OK or ERR")
		return false
	}
	data := p.payload
	id, pos, ok := readU32(data, 1)
	cols, pos, ok2 := readU16(data, pos)
	params, pos, ok3 := readU16(data, pos)
	if !ok || !ok2 || !ok3 {
		s.desync(FromServer, p, "PREPARE_OK", pos, "short packet")
		return false
	}
	if w, _, ok := readU16(data, pos+1); ok {
		ev.Warnings += uint64(w)
	}
	follows := true
	if s.caps.Has(CapOptionalResultsetMetadata) && len(data) > 12 {
		follows = data[12] != 0
	}
	ev.StmtID = id
	ev.Results = 1
	s.stmts.add(id, stmtInfo{
		sql: ev.SQL, sqlTruncated: ev.SQLTruncated, sqlLength: ev.SQLLength,
		params: params, columns: cols,
	})
	c.left = s.metadataPackets(params, follows) + s.metadataPackets(cols, follows)
	if c.left == 0 {
		return true
	}
	c.state = rsColDefs
	return false
}

// metadataPackets is the number of packets of a PREPARE_OK definition block
// of n entries: the definitions unless skipped, plus an EOF without
// DEPRECATE_EOF (sent even when the definitions are skipped).
func (s *Session) metadataPackets(n uint16, follows bool) uint64 {
	if n == 0 {
		return 0
	}
	var k uint64
	if follows {
		k = uint64(n)
	}
	if !s.caps.Has(CapDeprecateEOF) {
		k++
	}
	return k
}

// Column and parameter types (enum_field_types).
// https://dev.mysql.com/doc/dev/mysql-server/latest/field__types_8h.html
const (
	typeDecimal    = 0x00
	typeTiny       = 0x01
	typeShort      = 0x02
	typeLong       = 0x03
	typeFloat      = 0x04
	typeDouble     = 0x05
	typeNull       = 0x06
	typeTimestamp  = 0x07
	typeLongLong   = 0x08
	typeInt24      = 0x09
	typeDate       = 0x0A
	typeTime       = 0x0B
	typeDatetime   = 0x0C
	typeYear       = 0x0D
	typeNewDate    = 0x0E
	typeVarchar    = 0x0F
	typeBit        = 0x10
	typeVector     = 0xF2
	typeJSON       = 0xF5
	typeNewDecimal = 0xF6
	typeEnum       = 0xF7
	typeSet        = 0xF8
	typeTinyBlob   = 0xF9
	typeMediumBlob = 0xFA
	typeLongBlob   = 0xFB
	typeBlob       = 0xFC
	typeVarString  = 0xFD
	typeString     = 0xFE
	typeGeometry   = 0xFF
)

// skipBinaryValue skips one value in the binary protocol encoding (§10.4).
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html#sect_protocol_binary_resultset_row_value
//
//	TINY 1 · SHORT, YEAR 2 · LONG, INT24, FLOAT 4 · LONGLONG, DOUBLE 8 · NULL 0
//	DATE, DATETIME, TIMESTAMP, NEWDATE, TIME: u8 length + that many bytes
//	strings, decimals, blobs, ENUM, SET, BIT, JSON, GEOMETRY, VECTOR: str<lenenc>
//
// String lengths prefixed 0xFE use only their low 32 bits, as MySQL does.
// Unknown types return ok == false.
func skipBinaryValue(data []byte, pos int, typ uint8) (int, bool) {
	var n int
	switch typ {
	case typeNull:
		return pos, true
	case typeTiny:
		n = 1
	case typeShort, typeYear:
		n = 2
	case typeLong, typeInt24, typeFloat:
		n = 4
	case typeLongLong, typeDouble:
		n = 8
	case typeDate, typeDatetime, typeTimestamp, typeNewDate, typeTime:
		l, next, ok := readU8(data, pos)
		if !ok {
			return pos, false
		}
		pos, n = next, int(l)
	case typeDecimal, typeNewDecimal, typeVarchar, typeVarString, typeString,
		typeTinyBlob, typeMediumBlob, typeLongBlob, typeBlob,
		typeEnum, typeSet, typeBit, typeJSON, typeGeometry, typeVector:
		l, next, ok := readLenEncInt(data, pos)
		if !ok {
			return pos, false
		}
		l &= math.MaxUint32
		if l > uint64(len(data)-next) {
			return pos, false
		}
		pos, n = next, int(l)
	default:
		return pos, false
	}
	if n > len(data)-pos {
		return pos, false
	}
	return pos + n, true
}

// formatBinaryValue renders a binary-protocol value (as delimited by
// skipBinaryValue) as text: integers and floats in decimal, strings as they
// are. Temporal values are left empty.
func formatBinaryValue(v []byte, typ uint8, unsigned bool) string {
	switch typ {
	case typeTiny:
		if unsigned {
			return strconv.FormatUint(uint64(v[0]), 10)
		}
		return strconv.FormatInt(int64(int8(v[0])), 10)
	case typeShort, typeYear:
		x, _, _ := readU16(v, 0)
		if unsigned {
			return strconv.FormatUint(uint64(x), 10)
		}
		return strconv.FormatInt(int64(int16(x)), 10)
	case typeLong, typeInt24:
		x, _, _ := readU32(v, 0)
		if unsigned {
			return strconv.FormatUint(uint64(x), 10)
		}
		return strconv.FormatInt(int64(int32(x)), 10)
	case typeLongLong:
		x, _, _ := readU64(v, 0)
		if unsigned {
			return strconv.FormatUint(x, 10)
		}
		return strconv.FormatInt(int64(x), 10)
	case typeFloat:
		x, _, _ := readU32(v, 0)
		return strconv.FormatFloat(float64(math.Float32frombits(x)), 'g', -1, 32)
	case typeDouble:
		x, _, _ := readU64(v, 0)
		return strconv.FormatFloat(math.Float64frombits(x), 'g', -1, 64)
	case typeNull, typeDate, typeDatetime, typeTimestamp, typeNewDate, typeTime:
		return ""
	}
	// Length-encoded: cut the prefix, keep a bounded copy.
	n, pos, ok := readLenEncInt(v, 0)
	if !ok {
		return ""
	}
	n &= math.MaxUint32
	return capString(v[pos:pos+int(min(n, uint64(len(v)-pos)))], maxConnAttrSize)
}
