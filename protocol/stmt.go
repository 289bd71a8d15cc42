package protocol

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
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
	id           uint32
	sql          string
	sqlTruncated bool
	sqlLength    int
	params       uint16
	columns      uint16
	cursor       bool // a cursor is open (EXECUTE with CURSOR_EXISTS, not yet exhausted)

	// types are the parameter types (u16 type_and_flag: type byte, then
	// 0x80 for unsigned) bound by the last EXECUTE or BULK_EXECUTE that sent
	// them, nil until one did: with new_params_bound_flag 0 the client
	// reuses them (§10.2). Under QUERY_ATTRIBUTES they include the
	// attributes, and names holds the names when any was not empty.
	types []uint16
	names []string
	// long[i] is non-zero when parameter i was fed by SEND_LONG_DATA since
	// the last EXECUTE or STMT_RESET: longDataSet | bytes sent.
	long []uint64
}

// longDataSet marks an entry of stmtInfo.long.
const longDataSet = 1 << 63

// size is what the statement counts against maxStmtBytes.
func (st *stmtInfo) size() int {
	n := len(st.sql) + 2*cap(st.types) + 8*cap(st.long)
	for _, name := range st.names {
		n += 16 + len(name)
	}
	return n
}

// clearLongData forgets the SEND_LONG_DATA parameters, keeping the slice.
func (st *stmtInfo) clearLongData() { clear(st.long) }

// Bounds of the statement table: servers allow ~16k statements per
// connection (max_prepared_stmt_count), we keep fewer and evict arbitrary
// ones beyond, so that a session's memory stays bounded.
const (
	maxStmts     = 4096
	maxStmtBytes = 8 << 20 // total SQL bytes kept
)

// stmtTable maps statement ids to statements.
type stmtTable struct {
	m map[uint32]*stmtInfo
	// recent holds the statement last looked up with each id modulo its
	// size, allocated with the first statement. Servers number a
	// connection's statements 1, 2, 3..., so it holds an application's
	// whole working set (sysbench's read/write test prepares 74 per
	// connection; 16 entries missed on most EXECUTEs), and an EXECUTE finds
	// its statement without hashing (the map lookup was most of resolve's
	// cost).
	recent *[128]*stmtInfo
	bytes  int
	last   uint32 // id of the last successful PREPARE
	lastOK bool   // last is valid: no PREPARE failed since
}

func (t *stmtTable) len() int { return len(t.m) }

// get returns the statement with id, or nil.
func (t *stmtTable) get(id uint32) *stmtInfo {
	if t.recent == nil {
		return nil // no statement was ever added
	}
	r := &t.recent[id%uint32(len(t.recent))]
	if *r != nil && (*r).id == id {
		return *r
	}
	st := t.m[id]
	if st != nil {
		*r = st
	}
	return st
}

// lookup returns a copy of the statement with id, to be stored back with
// update when changed.
func (t *stmtTable) lookup(id uint32) (stmtInfo, bool) {
	if st := t.get(id); st != nil {
		return *st, true
	}
	return stmtInfo{}, false
}

func (t *stmtTable) add(id uint32, st stmtInfo) {
	if t.m == nil {
		t.m = make(map[uint32]*stmtInfo)
		t.recent = new([128]*stmtInfo)
	}
	t.remove(id)
	for k := range t.m {
		if len(t.m) < maxStmts && t.bytes+st.size() <= maxStmtBytes {
			break
		}
		t.remove(k)
	}
	st.id = id
	t.m[id] = &st
	t.bytes += st.size()
	t.last, t.lastOK = id, true
}

func (t *stmtTable) remove(id uint32) {
	if st, ok := t.m[id]; ok {
		t.bytes -= st.size()
		delete(t.m, id)
		if r := &t.recent[id%uint32(len(t.recent))]; *r == st { // t.m != nil: allocated
			*r = nil
		}
	}
}

// update stores a modified copy of a tracked statement. When its remembered
// types, names and long data would push the table past maxStmtBytes, they
// are dropped: later EXECUTEs that rely on them are marked undecodable.
func (t *stmtTable) update(id uint32, st stmtInfo) {
	old := t.get(id)
	if old == nil {
		return
	}
	if grow := st.size() - old.size(); grow > 0 && t.bytes+grow > maxStmtBytes {
		st.types, st.names, st.long = nil, nil, nil
	}
	t.bytes += st.size() - old.size()
	st.id = id
	*old = st
}

func (t *stmtTable) setCursor(id uint32, open bool) {
	if st := t.get(id); st != nil {
		st.cursor = open
	}
}

// prepareFailed records a failed PREPARE: MariaDB then rejects id -1.
func (t *stmtTable) prepareFailed() { t.lastOK = false }

func (t *stmtTable) clear() {
	clear(t.m)
	if t.recent != nil {
		clear(t.recent[:])
	}
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
	st, known := s.stmts.lookup(id)
	if known {
		ev.SQL, ev.SQLTruncated, ev.SQLLength = st.sql, st.sqlTruncated, st.sqlLength
	}
	switch ev.Command {
	case ComStmtExecute, ComStmtBulkExecute:
		s.decodeParams(c, id, st, known)
	case ComStmtSendLongData:
		c.longData = known
	}
}

// decodeParams decodes the parameters of the EXECUTE or BULK_EXECUTE c
// against its statement st (when known) as the server knows it now, records
// the types the request binds and forgets the statement's long data, which
// the server consumes with the execution.
func (s *Session) decodeParams(c *command, id uint32, st stmtInfo, known bool) {
	ev := c.ev
	data := c.req
	if c.reqCopy {
		s.pendingReq -= cap(data)
	}
	c.req, c.reqCopy = nil, false
	var stp *stmtInfo
	if known {
		stp = &st
	}
	// Decode the same prefix whatever the chunking: the framer keeps at
	// most reqKeep bytes of a packet that spans chunks.
	data = data[:min(len(data), s.reqKeep())]
	s.params.mariaDB = s.flavor == FlavorMariaDB
	switch {
	case c.reqLost:
		ev.ParamsUndecodable = true
		if known {
			ev.ParamCount = int(st.params)
		}
	case ev.Command == ComStmtExecute:
		s.params.execute(ev, data, c.reqLen, stp, s.caps.Has(CapQueryAttributes))
	default:
		s.params.bulk(ev, data, c.reqLen, stp)
	}
	if known {
		st.clearLongData()
		s.stmts.update(id, st)
	}
}

// reqKeep is how much of an EXECUTE payload is decoded: what the framer
// keeps of a command packet that spans chunks.
func (s *Session) reqKeep() int { return s.maxSQL + clientExtraKeep }

// maxPendingReq bounds the copies of EXECUTE payloads waiting behind other
// commands for their turn to be decoded. Beyond it, pipelined EXECUTEs are
// marked undecodable.
const maxPendingReq = 1 << 20

// keepRequest gives a pipelined EXECUTE or BULK_EXECUTE its own copy of the
// request, to decode when its response starts.
func (s *Session) keepRequest(c *command, data []byte) {
	data = data[:min(len(data), s.reqKeep())]
	if s.pendingReq+len(data) > maxPendingReq {
		c.req, c.reqLost = nil, true
		return
	}
	c.req, c.reqCopy = append([]byte(nil), data...), true
	s.pendingReq += cap(c.req)
}

// sendLongData applies a COM_STMT_SEND_LONG_DATA that reached the head of
// the queue: parameter c.param of the statement is now fed by long data.
//
//	u8   0x18
//	u32  statement_id
//	u16  param_id
//	     data          [rest of the packet]
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_send_long_data.html
func (s *Session) sendLongData(c *command) {
	if !c.longData {
		return
	}
	st, ok := s.stmts.lookup(c.ev.StmtID)
	if !ok || c.param >= st.params {
		return // the server reports the error at the next EXECUTE
	}
	i := int(c.param)
	if i >= len(st.long) {
		long := make([]uint64, i+1, max(i+1, min(int(st.params), 2*len(st.long))))
		copy(long, st.long)
		st.long = long
	}
	n := st.long[i] &^ longDataSet
	st.long[i] = longDataSet | min(n+c.dataLen, longDataSet-1)
	s.stmts.update(c.ev.StmtID, st)
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

// Parameter values (§10.4), as the server reads them.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html#sect_protocol_binary_resultset_row_value
//
// Parameters are not quite binary-row values, and the decoder follows the
// servers, not the documentation. Both read fixed sizes for TINY (1),
// SHORT (2), LONG and FLOAT (4), LONGLONG and DOUBLE (8), a length-prefixed
// value for DECIMAL, NEWDECIMAL, DATE, TIME, DATETIME and TIMESTAMP, and a
// str<lenenc>, cut at the end of the packet, for the string types. They
// differ on the rest:
//
//   - MySQL (sql/protocol_classic.cc get_ps_param_len) reads every other
//     type as a str<lenenc>: YEAR, INT24 and NEWDATE, which are 2, 4 and 3
//     bytes in binary rows, BIT, JSON, GEOMETRY, VECTOR, and a value typed
//     NULL whose NULL-bitmap bit is clear.
//   - MariaDB 10.11 (checked in params_scenarios_test.go) reads no bytes
//     for YEAR, INT24, BIT and GEOMETRY and binds NULL; reads NEWDATE as a
//     str<lenenc>; and refuses NULL with a clear bit, JSON, VECTOR and the
//     binlog types with ERR 1210.
//
// Type bytes outside enum_field_types are unknown for both: decoding
// stops there rather than guess.

// valueStatus says how delimiting one value went.
type valueStatus uint8

const (
	valueOK      valueStatus = iota
	valueNone                // MariaDB: no bytes, the server binds NULL
	valuePartial             // a str<lenenc> runs past the data: v holds the bytes present
	valueBad                 // the data ends inside the value, or its length is malformed
	valueUnknown             // the server refuses the type, or it names none
)

// paramValue delimits the value of a parameter of type typ at pos, as a
// MySQL or (mariaDB) MariaDB server reads it. It returns the value's bytes
// (without the length prefix), the position after it and, for a
// str<lenenc>, the declared length. Lengths prefixed 0xFE use only their
// low 32 bits, as the servers do (mysql2 relies on it). A str<lenenc>
// longer than the data yields valuePartial: the server takes what there
// is.
func paramValue(data []byte, pos int, typ FieldType, mariaDB bool) (v []byte, next int, n uint64, st valueStatus) {
	var size int
	switch typ {
	case TypeTiny:
		size = 1
	case TypeShort:
		size = 2
	case TypeLong, TypeFloat:
		size = 4
	case TypeLongLong, TypeDouble:
		size = 8
	case TypeDecimal, TypeNewDecimal, TypeDate, TypeTime, TypeDatetime, TypeTimestamp:
		l, next, ok := readLenEncInt(data, pos)
		if !ok || l > uint64(len(data)-next) {
			return nil, pos, 0, valueBad
		}
		pos, size = next, int(l)
	case TypeYear, TypeInt24, TypeBit, TypeGeometry:
		if mariaDB {
			return nil, pos, 0, valueNone
		}
		return lenencValue(data, pos)
	case TypeNull, TypeJSON, TypeVector, TypeTimestamp2, TypeDatetime2, TypeTime2, TypeTypedArray:
		if mariaDB {
			return nil, pos, 0, valueUnknown
		}
		return lenencValue(data, pos)
	case TypeNewDate, TypeVarchar, TypeEnum, TypeSet, TypeTinyBlob, TypeMediumBlob,
		TypeLongBlob, TypeBlob, TypeVarString, TypeString:
		return lenencValue(data, pos)
	default:
		return nil, pos, 0, valueUnknown
	}
	if size > len(data)-pos {
		return nil, pos, 0, valueBad
	}
	return data[pos : pos+size : pos+size], pos + size, 0, valueOK
}

// lenencValue delimits a str<lenenc> value for paramValue.
func lenencValue(data []byte, pos int) (v []byte, next int, n uint64, st valueStatus) {
	l, next, ok := readLenEncInt(data, pos)
	if !ok {
		return nil, pos, 0, valueBad
	}
	l &= math.MaxUint32
	if l > uint64(len(data)-next) {
		return data[next:len(data):len(data)], len(data), l, valuePartial
	}
	end := next + int(l)
	return data[next:end:end], end, l, valueOK
}

// formatBinaryValue renders a parameter value v (as delimited by
// paramValue) as text for a query attribute: integers and floats in
// decimal, strings as they are, cut to maxConnAttrSize bytes. Temporal
// values are left empty.
func formatBinaryValue(v []byte, typ FieldType, unsigned bool) string {
	switch typ {
	case TypeTiny, TypeShort, TypeLong, TypeLongLong:
		if unsigned {
			return strconv.FormatUint(binaryUint(v), 10)
		}
		return strconv.FormatInt(binaryInt(v), 10)
	case TypeFloat:
		return strconv.FormatFloat(float64(math.Float32frombits(uint32(binaryUint(v)))), 'g', -1, 32)
	case TypeDouble:
		return strconv.FormatFloat(math.Float64frombits(binaryUint(v)), 'g', -1, 64)
	case TypeDate, TypeDatetime, TypeTimestamp, TypeTime:
		return ""
	}
	return capString(v, maxConnAttrSize)
}

// binaryUint reads a little-endian unsigned integer of len(v) ≤ 8 bytes.
func binaryUint(v []byte) uint64 {
	var x uint64
	for i := len(v) - 1; i >= 0; i-- {
		x = x<<8 | uint64(v[i])
	}
	return x
}

// binaryInt reads a little-endian two's-complement integer of 1 to 8 bytes.
func binaryInt(v []byte) int64 {
	if len(v) == 0 {
		return 0
	}
	shift := 64 - 8*uint(len(v))
	return int64(binaryUint(v)<<shift) >> shift
}

// Parameter decoding.

// Limits of parameter decoding.
const (
	defaultMaxParamBytes = 256     // SessionConfig.MaxParamBytes
	maxParams            = 64      // parameters kept per event
	maxBulkSets          = 4       // BULK_EXECUTE parameter sets whose values are kept
	maxArenaRetained     = 1 << 16 // largest text slab kept between events
)

// Request flags.
const (
	paramCountAvailable = 0x08 // EXECUTE flags: PARAMETER_COUNT_AVAILABLE (MySQL)
	bulkSendTypes       = 0x80 // BULK_EXECUTE flags: SEND_TYPES
)

// paramDecoder decodes the parameters of EXECUTE and BULK_EXECUTE requests
// into Events. An event's Params and the bytes of its string values are
// windows of slabs the decoder shares among the session's events, so that
// an event costs only the boxing of its dates and times into Param.Value
// (its integers, doubles and strings are boxed into a valueSlab) and, now
// and then, a new slab.
//
// Both slabs are append-only: what was handed to an event is never written
// again, and a full slab is left to the events that still refer to it.
type paramDecoder struct {
	maxBytes int
	mariaDB  bool        // read values as MariaDB does (see paramValue)
	slab     []Param     // room for the Params of coming events
	arena    []byte      // string values; arena[:len] is handed out
	spans    []paramSpan // where this event's strings go
	vals     valueSlab   // where boxed values point
}

// Slab sizes: a slab of Params holds the parameters of a few dozen typical
// statements; the text slab their strings (values are cut to maxBytes).
const (
	paramSlab = 32
	textSlab  = 4 << 10
)

// params returns an empty slice with room for n parameters, cut from the
// slab (full capacity n: appending beyond it cannot reach the next event's).
func (d *paramDecoder) params(n int) []Param {
	if cap(d.slab)-len(d.slab) < n {
		d.slab = make([]Param, 0, max(paramSlab, n))
	}
	start := len(d.slab)
	d.slab = d.slab[:start+n]
	return d.slab[start : start : start+n]
}

// paramSpan places arena[off:end] into ev.Params[param].Value.
type paramSpan struct {
	param    int
	off, end int
}

// execute decodes the parameters of the COM_STMT_EXECUTE payload data (a
// prefix of a payload of full bytes) for the statement st (nil when not
// known), with or without CLIENT_QUERY_ATTRIBUTES. Types the request binds
// are recorded in st.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_execute.html
// https://mariadb.com/kb/en/com_stmt_execute/
//
//	u8   0x17
//	u32  statement_id
//	u8   flags                      cursor type; 0x08 PARAMETER_COUNT_AVAILABLE
//	u32  iteration_count            always 1
//	if num_params > 0 || (QUERY_ATTRIBUTES && flags & 0x08):
//	    QUERY_ATTRIBUTES ? lenenc parameter_count : parameter_count = num_params
//	    if parameter_count > 0:
//	        bytes[(parameter_count+7)/8]  null_bitmap       bit i = parameter i
//	        u8   new_params_bound_flag
//	        if != 0: parameter_count × (u16 type_and_flag [, str<lenenc> name if QUERY_ATTRIBUTES])
//	        values of the parameters that are neither NULL nor long data
//
// The first num_params parameters bind the placeholders; under
// QUERY_ATTRIBUTES the others are named query attributes. Value presence
// comes from the NULL bitmap and the long-data set, never from the type.
// With new_params_bound_flag 0 the types of the last binding are reused
// (MySQL takes any non-zero flag as "bound"). Trailing bytes are ignored:
// some clients add a stray byte when there are no parameters.
func (d *paramDecoder) execute(ev *Event, data []byte, full int, st *stmtInfo, qa bool) {
	defer d.finish(ev)
	if st == nil {
		// num_params is unknown: only a bare header says there is nothing.
		ev.ParamsUndecodable = full > 10
		return
	}
	np := int(st.params)
	ev.ParamCount = np
	flags, pos, ok := readU8(data, 5)
	if ok {
		_, pos, ok = readU32(data, pos) // iteration_count
	}
	if !ok {
		ev.ParamsUndecodable = np > 0
		return
	}
	count := np
	if qa && (np > 0 || flags&paramCountAvailable != 0) {
		n, next, ok := readLenEncInt(data, pos)
		// Each parameter takes at least a bit of the NULL bitmap.
		if !ok || n < uint64(np) || n > 8*uint64(len(data)) {
			ev.ParamsUndecodable = true
			return
		}
		count, pos = int(n), next
	}
	if count == 0 {
		return
	}
	nulls, pos, ok := readBytes(data, pos, (count+7)/8)
	var bound uint8
	if ok {
		bound, pos, ok = readU8(data, pos)
	}
	if ok && bound != 0 {
		pos, ok = bindTypes(st, data, pos, count, qa)
	} else if ok {
		ok = len(st.types) == count // reuse; unknown when never seen
	}
	if !ok {
		ev.ParamsUndecodable = true
		return
	}
	keep := min(np, maxParams)
	if keep > 0 {
		ev.Params = d.params(keep)
	}
	for i := range count {
		t := st.types[i]
		p := Param{Type: FieldType(t), Unsigned: t&0x8000 != 0}
		if st.names != nil {
			p.Name = st.names[i]
		}
		attr := i >= np
		if !attr && i < len(st.long) && st.long[i] != 0 {
			// Fed by SEND_LONG_DATA: nothing in this packet, whatever
			// the NULL bitmap says (the server checks long data first).
			p.LongData, p.Length = true, int(st.long[i]&^longDataSet)
			d.add(ev, keep, p, nil, 0)
			continue
		}
		if nulls[i/8]&(1<<(i%8)) != 0 {
			p.Null = true
			if attr {
				addAttr(ev, p, nil)
			} else {
				d.add(ev, keep, p, nil, 0)
			}
			continue
		}
		v, next, n, vs := paramValue(data, pos, p.Type, d.mariaDB)
		if vs == valueUnknown || vs == valueBad {
			// The values after this one cannot be located.
			ev.ParamsUndecodable = true
			return
		}
		// valuePartial: a string running past the data. The server takes
		// what there is; when the copy limit cut the packet it is a
		// prefix. Either way no bytes are left for later values, which
		// then fail above unless they are NULL or long data.
		pos = next
		p.Null = vs == valueNone
		if attr {
			addAttr(ev, p, v)
		} else {
			d.add(ev, keep, p, v, n)
		}
	}
}

// bindTypes reads the parameter_count types (and names, under
// QUERY_ATTRIBUTES) an EXECUTE binds and records them in st, reusing its
// slices. The list is checked whole before st changes.
func bindTypes(st *stmtInfo, data []byte, pos, count int, qa bool) (int, bool) {
	end, named := pos, false
	for range count {
		var ok bool
		if _, end, ok = readU16(data, end); !ok {
			return pos, false
		}
		if qa {
			var name []byte
			if name, end, ok = readLenEncString(data, end); !ok {
				return pos, false
			}
			named = named || len(name) > 0
		}
	}
	if cap(st.types) >= count {
		st.types = st.types[:count]
	} else {
		st.types = make([]uint16, count)
	}
	if !named {
		st.names = nil
	} else if cap(st.names) >= count {
		st.names = st.names[:count]
	} else {
		st.names = make([]string, count)
	}
	for i := range count {
		st.types[i], pos, _ = readU16(data, pos)
		if qa {
			var name []byte
			name, pos, _ = readLenEncString(data, pos)
			if named && st.names[i] != string(name) {
				st.names[i] = capString(name, maxConnAttrSize)
			}
		}
	}
	return pos, true
}

// bulk decodes the parameter sets of a MariaDB COM_STMT_BULK_EXECUTE
// payload (data, a prefix of a payload of full bytes) for the statement st
// (nil when not known). Types the request sends are recorded in st.
// https://mariadb.com/kb/en/com_stmt_bulk_execute/
//
//	u8   0xFA
//	u32  statement_id              0xFFFFFFFF: the last prepared statement
//	u16  bulk_flags                0x80 SEND_TYPES, 0x40 SEND_UNIT_RESULTS
//	if SEND_TYPES: num_params × (u8 type, u8 flags)        flags 0x80: unsigned
//	parameter sets until the end of the packet:
//	    num_params × (u8 indicator [, value if indicator == 0])
//	    indicators: 0 a value follows, 1 NULL, 2 DEFAULT, 3 IGNORE
//
// Without SEND_TYPES the types of the last binding are reused.
func (d *paramDecoder) bulk(ev *Event, data []byte, full int, st *stmtInfo) {
	defer d.finish(ev)
	if st == nil {
		ev.ParamsUndecodable = full > 7
		return
	}
	np := int(st.params)
	ev.ParamCount = np
	flags, pos, ok := readU16(data, 5)
	if ok && flags&bulkSendTypes != 0 {
		var types []byte
		if types, pos, ok = readBytes(data, pos, 2*np); ok {
			if cap(st.types) >= np {
				st.types = st.types[:np]
			} else {
				st.types = make([]uint16, np)
			}
			for i := range np {
				st.types[i] = uint16(types[2*i]) | uint16(types[2*i+1])<<8
			}
			st.names = nil
		}
	} else if ok {
		ok = len(st.types) == np
	}
	if !ok {
		ev.ParamsUndecodable = true
		return
	}
	if np == 0 {
		return
	}
	keep := min(np*maxBulkSets, maxParams)
	ev.Params = d.params(keep)
	for pos < len(data) {
		for i := range np {
			ind, next, ok := readU8(data, pos)
			if !ok {
				ev.ParamsUndecodable = true // a set cut short
				return
			}
			pos = next
			t := st.types[i]
			p := Param{Type: FieldType(t), Unsigned: t&0x8000 != 0}
			var v []byte
			var n uint64
			switch ind {
			case 0:
				var vs valueStatus
				if v, next, n, vs = paramValue(data, pos, p.Type, d.mariaDB); vs == valueUnknown || vs == valueBad {
					ev.ParamsUndecodable = true
					return
				}
				pos = next
				p.Null = vs == valueNone
			case 1:
				p.Null = true
			case 2:
				p.Default = true
			case 3:
				p.Ignore = true
			default:
				ev.ParamsUndecodable = true
				return
			}
			d.add(ev, keep, p, v, n)
		}
		ev.BulkRows++
	}
	if len(data) < full {
		ev.ParamsUndecodable = true // sets beyond the copy limit are not counted
	}
}

// addAttr records a query attribute (a parameter past num_params).
func addAttr(ev *Event, p Param, v []byte) {
	if len(ev.QueryAttributes) >= maxQueryAttrs {
		return
	}
	a := Attr{Key: p.Name}
	if !p.Null {
		a.Value = formatBinaryValue(v, p.Type, p.Unsigned)
	}
	ev.QueryAttributes = append(ev.QueryAttributes, a)
}

// add decodes the value v of a parameter (as delimited by paramValue; for
// a string, a prefix of its n bytes) into p and appends p to ev.Params,
// unless keep parameters are there already.
func (d *paramDecoder) add(ev *Event, keep int, p Param, v []byte, n uint64) {
	idx := len(ev.Params)
	if idx >= keep {
		return
	}
	if !p.Null && !p.LongData && !p.Default && !p.Ignore {
		switch p.Type {
		case TypeTiny, TypeShort, TypeLong, TypeLongLong:
			if p.Unsigned {
				p.Value = d.vals.boxUint(binaryUint(v))
			} else {
				p.Value = d.vals.boxInt(binaryInt(v))
			}
		case TypeFloat:
			p.Value = math.Float32frombits(uint32(binaryUint(v)))
		case TypeDouble:
			p.Value = d.vals.boxFloat64(math.Float64frombits(binaryUint(v)))
		case TypeDate, TypeDatetime, TypeTimestamp:
			p.Value = d.dateTime(v, idx)
		case TypeTime:
			p.Value = d.duration(v, idx)
		default:
			p.Length = int(n)
			k := min(len(v), d.maxBytes)
			if uint64(k) < n {
				p.Truncated = true
				for i := 0; i < utf8.UTFMax && k > 0 && k < len(v) && !utf8.RuneStart(v[k]); i++ {
					k--
				}
			}
			if k == 0 {
				p.Value = ""
			} else {
				if d.arena == nil {
					d.arena = make([]byte, 0, max(textSlab, k))
				}
				off := len(d.arena)
				d.arena = append(d.arena, v[:k]...)
				d.put(idx, off)
			}
		}
	}
	ev.Params = append(ev.Params, p)
}

// put records that the arena bytes from off to its end are the Value of
// ev.Params[idx].
func (d *paramDecoder) put(idx, off int) {
	d.spans = append(d.spans, paramSpan{param: idx, off: off, end: len(d.arena)})
}

// finish hands out the event's strings: windows of the arena, which is
// never written below len(arena) again. An arena with little room left (or
// grown large) is left to the strings in it: the next string starts a new
// one.
func (d *paramDecoder) finish(ev *Event) {
	for _, sp := range d.spans {
		if sp.end > sp.off {
			ev.Params[sp.param].Value = d.vals.boxString(unsafe.String(&d.arena[sp.off], sp.end-sp.off))
		}
	}
	d.spans = d.spans[:0]
	if len(d.arena) > 0 && (cap(d.arena)-len(d.arena) < textSlab/4 || cap(d.arena) > maxArenaRetained) {
		d.arena = nil
	}
}

// dateTime decodes a DATE, DATETIME, TIMESTAMP or NEWDATE value:
//
//	u8 length ∈ {0, 4, 7, 11, 13}       (the prefix, not in v)
//	u16 year, u8 month, u8 day          length ≥ 4
//	u8 hour, u8 minute, u8 second       length ≥ 7
//	u32 microseconds                    length ≥ 11
//	i16 UTC offset in minutes           length ≥ 13 (MySQL parameters only)
//
// Missing fields are zero, as for the server; length 0 is the zero date
// (the zero time.Time). Fields that make no calendar date (month 0, day 31
// in April...) are kept as text in the arena for ev.Params[idx].
func (d *paramDecoder) dateTime(v []byte, idx int) any {
	var y, off int
	var mo, day, h, mi, s byte
	var us uint64
	zone := len(v) >= 13
	if len(v) >= 4 {
		y, mo, day = int(binaryUint(v[:2])), v[2], v[3]
	}
	if len(v) >= 7 {
		h, mi, s = v[4], v[5], v[6]
	}
	if len(v) >= 11 {
		us = binaryUint(v[7:11])
	}
	if zone {
		off = int(binaryInt(v[11:13]))
	}
	if y == 0 && mo == 0 && day == 0 && h == 0 && mi == 0 && s == 0 && us == 0 && !zone {
		return time.Time{}
	}
	if mo >= 1 && mo <= 12 && day >= 1 && int(day) <= daysIn(time.Month(mo), y) &&
		h < 24 && mi < 60 && s < 60 && us < 1e6 && off > -24*60 && off < 24*60 {
		loc := time.UTC
		if zone {
			loc = time.FixedZone("", off*60)
		}
		t := time.Date(y, time.Month(mo), int(day), int(h), int(mi), int(s), int(us)*1000, loc)
		if !t.IsZero() { // 0001-01-01 00:00:00 UTC would read as the zero date
			return t
		}
	}
	off0 := len(d.arena)
	b := appendPadded(d.arena, y, 4)
	b = append(b, '-')
	b = appendPadded(b, int(mo), 2)
	b = append(b, '-')
	b = appendPadded(b, int(day), 2)
	b = append(b, ' ')
	b = appendClock(b, uint64(h), mi, s, us)
	if zone {
		sign := byte('+')
		if off < 0 {
			sign, off = '-', -off
		}
		b = append(b, sign)
		b = appendPadded(b, off/60, 2)
		b = append(b, ':')
		b = appendPadded(b, off%60, 2)
	}
	d.arena = b
	d.put(idx, off0)
	return nil
}

// duration decodes a TIME value:
//
//	u8 length ∈ {0, 8, 12}              (the prefix, not in v)
//	u8 is_negative, u32 days, u8 hour, u8 minute, u8 second    length ≥ 8
//	u32 microseconds                                           length ≥ 12
//
// Shorter lengths are zero, as for the server. A value a time.Duration
// cannot hold, or with minutes or seconds out of range, is kept as text
// ("[-]hhh:mm:ss[.ffffff]") in the arena for ev.Params[idx].
func (d *paramDecoder) duration(v []byte, idx int) any {
	if len(v) < 8 {
		return time.Duration(0)
	}
	neg := v[0] != 0
	days := binaryUint(v[1:5])
	h, mi, s := v[5], v[6], v[7]
	var us uint64
	if len(v) >= 12 {
		us = binaryUint(v[8:12])
	}
	if days < 100000 && mi < 60 && s < 60 && us < 1e6 {
		t := time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour +
			time.Duration(mi)*time.Minute + time.Duration(s)*time.Second + time.Duration(us)*time.Microsecond
		if neg {
			t = -t
		}
		return t
	}
	off := len(d.arena)
	b := d.arena
	if neg {
		b = append(b, '-')
	}
	d.arena = appendClock(b, days*24+uint64(h), mi, s, us)
	d.put(idx, off)
	return nil
}

// appendClock appends hh:mm:ss[.ffffff].
func appendClock(b []byte, h uint64, mi, s byte, us uint64) []byte {
	if h < 10 {
		b = append(b, '0')
	}
	b = strconv.AppendUint(b, h, 10)
	b = append(b, ':')
	b = appendPadded(b, int(mi), 2)
	b = append(b, ':')
	b = appendPadded(b, int(s), 2)
	if us != 0 {
		b = append(b, '.')
		b = appendPadded(b, int(us), 6)
	}
	return b
}

// daysIn returns the number of days of month m of year y (proleptic
// Gregorian calendar).
func daysIn(m time.Month, y int) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}
