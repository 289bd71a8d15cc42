package protocol_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/protocol"
)

// Recorded scenarios for parameter decoding (§10): what real clients bind,
// checked against what the real server stored.

// Synchronous helpers for the raw client: unlike rawScript, the parameter
// scripts read each answer before going on, to check the server accepted
// what was sent.

// next returns the next server packet.
func (c *rawClient) next(what string) rawPacket {
	c.t.Helper()
	p, ok := <-c.pkts
	if !ok {
		c.t.Fatalf("connection closed while waiting for %s", what)
	}
	return p
}

// expectOK reads one packet and fails unless it is an OK.
func (c *rawClient) expectOK(what string) rawPacket {
	c.t.Helper()
	p := c.next(what)
	if len(p.payload) == 0 || p.payload[0] != 0x00 {
		c.t.Fatalf("%s: want OK, got %s", what, describePacket(p))
	}
	return p
}

func describePacket(p rawPacket) string {
	if len(p.payload) > 3 && p.payload[0] == 0xFF {
		return fmt.Sprintf("ERR %d %s", binary.LittleEndian.Uint16(p.payload[1:]), p.payload[3:])
	}
	return fmt.Sprintf("% x", p.payload[:min(len(p.payload), 32)])
}

// rawLenEnc reads a length-encoded integer.
func rawLenEnc(b []byte) (uint64, int) {
	switch b[0] {
	case 0xFC:
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3
	case 0xFD:
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4
	case 0xFE:
		return binary.LittleEndian.Uint64(b[1:]), 9
	}
	return uint64(b[0]), 1
}

// queryRows runs a text query and returns its rows, NULL as "NULL".
func (c *rawClient) queryRows(sql string) [][]string {
	c.t.Helper()
	c.query(sql)
	first := c.next(sql)
	if first.payload[0] == 0xFF {
		c.t.Fatalf("%s: %s", sql, describePacket(first))
	}
	n, pos := rawLenEnc(first.payload)
	follows := true
	if c.caps&protocol.CapMariaDBCacheMetadata != 0 && pos < len(first.payload) {
		follows = first.payload[pos] != 0
	}
	if follows {
		for range n {
			c.next("column definition")
		}
	}
	if c.caps&protocol.CapDeprecateEOF == 0 {
		c.next("EOF")
	}
	var rows [][]string
	for {
		p := c.next("row")
		if p.payload[0] == 0xFE && len(p.payload) < 0xFFFFFF {
			return rows
		}
		if p.payload[0] == 0xFF {
			c.t.Fatalf("%s: %s", sql, describePacket(p))
		}
		var row []string
		for b := p.payload; len(b) > 0; {
			if b[0] == 0xFB {
				row = append(row, "NULL")
				b = b[1:]
				continue
			}
			l, k := rawLenEnc(b)
			row = append(row, string(b[k:k+int(l)]))
			b = b[k+int(l):]
		}
		rows = append(rows, row)
	}
}

// prepareSync prepares sql and reads the whole PREPARE response.
func (c *rawClient) prepareSync(sql string) uint32 {
	c.t.Helper()
	c.send(append([]byte{byte(protocol.ComStmtPrepare)}, sql...)...)
	p := c.next("PREPARE_OK")
	if p.payload[0] != 0 {
		c.t.Fatalf("prepare %s: %s", sql, describePacket(p))
	}
	c.skipPrepareRest(p)
	return binary.LittleEndian.Uint32(p.payload[1:])
}

// skipPrepareRest reads the definitions following a PREPARE_OK.
func (c *rawClient) skipPrepareRest(ok rawPacket) {
	cols := int(binary.LittleEndian.Uint16(ok.payload[5:]))
	params := int(binary.LittleEndian.Uint16(ok.payload[7:]))
	for _, n := range []int{params, cols} {
		if n == 0 {
			continue
		}
		for range n {
			c.next("definition")
		}
		if c.caps&protocol.CapDeprecateEOF == 0 {
			c.next("EOF")
		}
	}
}

// rawValue is one parameter of a raw EXECUTE: its type, the binary value as
// sent, the column it goes into, and what it must decode to and read back
// as.
type rawValue struct {
	col      string // column definition
	sel      string // expression reading it back as text; the column name when empty
	typ      protocol.FieldType
	unsigned bool
	null     bool
	val      []byte // the binary value as sent, length prefix included
	want     string // Param.String() of the decoded parameter
	stored   string // what the server reads back
}

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// lenencBytes returns s as a str<lenenc>.
func lenencBytes(s string) []byte {
	var b []byte
	switch n := len(s); {
	case n < 0xFB:
		b = []byte{byte(n)}
	case n <= 0xFFFF:
		b = []byte{0xFC, byte(n), byte(n >> 8)}
	default:
		b = []byte{0xFD, byte(n), byte(n >> 8), byte(n >> 16)}
	}
	return append(b, s...)
}

// dateBytes encodes a DATE/DATETIME value of length n (0, 4, 7, 11 or 13).
func dateBytes(n int, y, mo, d, h, mi, s int, us uint32, off int16) []byte {
	b := []byte{byte(n)}
	if n >= 4 {
		b = append(b, le16(uint16(y))...)
		b = append(b, byte(mo), byte(d))
	}
	if n >= 7 {
		b = append(b, byte(h), byte(mi), byte(s))
	}
	if n >= 11 {
		b = append(b, le32(us)...)
	}
	if n >= 13 {
		b = append(b, le16(uint16(off))...)
	}
	return b
}

// timeBytes encodes a TIME value of length n (0, 8 or 12).
func timeBytes(n int, neg bool, days uint32, h, mi, s int, us uint32) []byte {
	b := []byte{byte(n)}
	if n >= 8 {
		sign := byte(0)
		if neg {
			sign = 1
		}
		b = append(b, sign)
		b = append(b, le32(days)...)
		b = append(b, byte(h), byte(mi), byte(s))
	}
	if n >= 12 {
		b = append(b, le32(us)...)
	}
	return b
}

// geometryPoint is POINT(1 2) in MariaDB's internal format: u32 SRID, WKB.
func geometryPoint() []byte {
	b := le32(0)
	b = append(b, 1)          // little-endian WKB
	b = append(b, le32(1)...) // point
	b = append(b, le64(math.Float64bits(1))...)
	return append(b, le64(math.Float64bits(2))...)
}

// rawTypedValues covers every type of §10.4 that MariaDB accepts as a
// parameter: it answers JSON (0xF5) and VECTOR (0xF2), MySQL's types, with
// ERR 1210, which rawParamsScript checks separately.
func rawTypedValues() []rawValue {
	blob := strings.Repeat("b", 300)
	return []rawValue{
		{col: "id INT PRIMARY KEY", typ: protocol.TypeLong, val: le32(1), want: "1", stored: "1"},
		{col: "ti TINYINT", typ: protocol.TypeTiny, val: []byte{0x80}, want: "-128", stored: "-128"},
		{col: "tu TINYINT UNSIGNED", typ: protocol.TypeTiny, unsigned: true, val: []byte{0xFF}, want: "255", stored: "255"},
		{col: "sm SMALLINT", typ: protocol.TypeShort, val: le16(0x8000), want: "-32768", stored: "-32768"},
		{col: "su SMALLINT UNSIGNED", typ: protocol.TypeShort, unsigned: true, val: le16(0xFFFF), want: "65535", stored: "65535"},
		// MariaDB reads no bytes for YEAR, INT24, BIT and GEOMETRY and
		// binds NULL (MySQL reads strings); NEWDATE is a string it does
		// not take for a date.
		{col: "yr YEAR", typ: protocol.TypeYear, want: "NULL", stored: "NULL"},
		{col: "lg INT", typ: protocol.TypeLong, val: le32(0x80000000), want: "-2147483648", stored: "-2147483648"},
		{col: "lu INT UNSIGNED", typ: protocol.TypeLong, unsigned: true, val: le32(0xFFFFFFFF), want: "4294967295", stored: "4294967295"},
		{col: "i24 MEDIUMINT", typ: protocol.TypeInt24, want: "NULL", stored: "NULL"},
		{col: "ll BIGINT", typ: protocol.TypeLongLong, val: le64(1 << 63), want: "-9223372036854775808", stored: "-9223372036854775808"},
		{col: "llu BIGINT UNSIGNED", typ: protocol.TypeLongLong, unsigned: true, val: le64(math.MaxUint64), want: "18446744073709551615", stored: "18446744073709551615"},
		{col: "f FLOAT", typ: protocol.TypeFloat, val: le32(math.Float32bits(1.5)), want: "1.5", stored: "1.5"},
		{col: "d DOUBLE", typ: protocol.TypeDouble, val: le64(math.Float64bits(-2.5e30)), want: "-2.5e+30", stored: "-2.5e30"},
		{col: "de DECIMAL(20,6)", typ: protocol.TypeDecimal, val: lenencBytes("12345.678900"), want: "12345.678900", stored: "12345.678900"},
		{col: "nd DECIMAL(20,6)", typ: protocol.TypeNewDecimal, val: lenencBytes("-0.000001"), want: "-0.000001", stored: "-0.000001"},
		{col: "dt DATE", typ: protocol.TypeDate, val: dateBytes(4, 2025, 1, 2, 0, 0, 0, 0, 0), want: "'2025-01-02'", stored: "2025-01-02"},
		{col: "dz DATE", typ: protocol.TypeDate, val: dateBytes(0, 0, 0, 0, 0, 0, 0, 0, 0), want: "'0000-00-00'", stored: "0000-00-00"},
		{col: "dn DATE", typ: protocol.TypeNewDate, val: lenencBytes("1999-12-31"), want: "'1999-12-31'", stored: "0000-00-00"},
		{col: "dtm DATETIME(6)", typ: protocol.TypeDatetime, val: dateBytes(11, 2025, 1, 2, 3, 4, 5, 123456, 0), want: "'2025-01-02 03:04:05.123456'", stored: "2025-01-02 03:04:05.123456"},
		{col: "dt7 DATETIME", typ: protocol.TypeDatetime, val: dateBytes(7, 2024, 2, 29, 23, 59, 58, 0, 0), want: "'2024-02-29 23:59:58'", stored: "2024-02-29 23:59:58"},
		{col: "dt0 DATETIME", typ: protocol.TypeDatetime, val: dateBytes(0, 0, 0, 0, 0, 0, 0, 0, 0), want: "'0000-00-00 00:00:00'", stored: "0000-00-00 00:00:00"},
		{col: "ts TIMESTAMP(6) NULL", typ: protocol.TypeTimestamp, val: dateBytes(11, 2025, 6, 7, 8, 9, 10, 1, 0), want: "'2025-06-07 08:09:10.000001'", stored: "2025-06-07 08:09:10.000001"},
		{col: "tm TIME(6)", typ: protocol.TypeTime, val: timeBytes(12, true, 1, 2, 3, 4, 5), want: "'-26:03:04.000005'", stored: "-26:03:04.000005"},
		{col: "t8 TIME", typ: protocol.TypeTime, val: timeBytes(8, false, 0, 10, 20, 30, 0), want: "'10:20:30'", stored: "10:20:30"},
		{col: "t0 TIME", typ: protocol.TypeTime, val: timeBytes(0, false, 0, 0, 0, 0, 0), want: "'00:00:00'", stored: "00:00:00"},
		{col: "vc VARCHAR(50)", typ: protocol.TypeVarchar, val: lenencBytes("it's"), want: `'it''s'`, stored: "it's"},
		{col: "vs VARCHAR(50)", typ: protocol.TypeVarString, val: lenencBytes("héllo\\\n"), want: `'héllo\\\n'`, stored: "héllo\\\n"},
		{col: "s CHAR(10)", typ: protocol.TypeString, val: lenencBytes("abc"), want: "'abc'", stored: "abc"},
		{col: "tb TINYBLOB", sel: "HEX(tb)", typ: protocol.TypeTinyBlob, val: lenencBytes("\x00\x01\xFF"), want: "X'0001ff'", stored: "0001FF"},
		{col: "mb MEDIUMBLOB", typ: protocol.TypeMediumBlob, val: lenencBytes("m"), want: "'m'", stored: "m"},
		{col: "lb LONGBLOB", typ: protocol.TypeLongBlob, val: lenencBytes(""), want: "''", stored: ""},
		{col: "bl BLOB", sel: "LENGTH(bl)", typ: protocol.TypeBlob, val: lenencBytes(blob), want: "'" + blob[:256] + "' /* truncated, 300 bytes */", stored: "300"},
		{col: "en ENUM('a','b')", typ: protocol.TypeEnum, val: lenencBytes("b"), want: "'b'", stored: "b"},
		{col: "st SET('x','y')", typ: protocol.TypeSet, val: lenencBytes("x,y"), want: "'x,y'", stored: "x,y"},
		{col: "bt BIT(16)", sel: "bt+0", typ: protocol.TypeBit, want: "NULL", stored: "NULL"},
		{col: "bv BIT(16)", sel: "bv+0", typ: protocol.TypeVarString, val: lenencBytes("\x01\x02"), want: "X'0102'", stored: "258"},
		{col: "js JSON", typ: protocol.TypeVarString, val: lenencBytes(`{"a": [1, "x"]}`), want: `'{"a": [1, "x"]}'`, stored: `{"a": [1, "x"]}`},
		// MySQL 8.0.19+ sends a UTC offset; MariaDB reads 11 bytes and ignores it.
		{col: "dto DATETIME(6)", typ: protocol.TypeDatetime, val: dateBytes(13, 2025, 1, 2, 3, 4, 5, 6, 330), want: "'2025-01-02 03:04:05.000006+05:30'", stored: "2025-01-02 03:04:05.000006"},
		// A 0xFE length: only its low 32 bits count (for MariaDB too).
		{col: "fe VARCHAR(10)", typ: protocol.TypeVarString, val: append([]byte{0xFE, 3, 0, 0, 0, 1, 0, 0, 0}, "abc"...), want: "'abc'", stored: "abc"},
		{col: "geo GEOMETRY NULL", sel: "ST_AsText(geo)", typ: protocol.TypeGeometry, want: "NULL", stored: "NULL"},
		{col: "gb GEOMETRY NULL", sel: "ST_AsText(gb)", typ: protocol.TypeLongBlob, val: lenencBytes(string(geometryPoint())), want: "X'" + fmt.Sprintf("%x", geometryPoint()) + "'", stored: "POINT(1 2)"},
		{col: "nl INT NULL", typ: protocol.TypeLong, null: true, want: "NULL", stored: "NULL"},
		{col: "nt INT NULL", typ: protocol.TypeNull, null: true, want: "NULL", stored: "NULL"},
	}
}

// executePacket builds a COM_STMT_EXECUTE for the values (types sent when
// bind is set); values with null set go to the NULL bitmap.
func executePacket(id uint32, vals []rawValue, bind bool) []byte {
	b := stmtCmd(protocol.ComStmtExecute, id, 0, 1, 0, 0, 0)
	nulls := make([]byte, (len(vals)+7)/8)
	for i, v := range vals {
		if v.null {
			nulls[i/8] |= 1 << (i % 8)
		}
	}
	b = append(b, nulls...)
	if !bind {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		for _, v := range vals {
			flag := byte(0)
			if v.unsigned {
				flag = 0x80
			}
			b = append(b, byte(v.typ), flag)
		}
	}
	for _, v := range vals {
		if !v.null {
			b = append(b, v.val...)
		}
	}
	return b
}

// rawParamsScript sends EXECUTEs binding every type, long data, resets,
// reused types, MariaDB's pipelined PREPARE + EXECUTE(-1) and
// BULK_EXECUTE with indicators, checking after each step that the server
// accepted it and stored what was sent.
func rawParamsScript(t *testing.T, addr string) {
	c, fail := dialRaw(t, addr, rawCapsModern, testdb.Schema, testdb.Password)
	if fail != 0 {
		t.Fatalf("login failed: %x", fail)
	}
	t.Cleanup(func() { c.conn.Close() }) // a failed step must not leave the relay waiting
	exec := func(sql string) {
		c.query(sql)
		c.expectOK(sql)
	}
	exec("SET sql_mode = 'STRICT_TRANS_TABLES'")
	exec("SET time_zone = '+00:00'")

	// Every type, bound explicitly.
	vals := rawTypedValues()
	cols := make([]string, len(vals))
	sels := make([]string, len(vals))
	for i, v := range vals {
		cols[i] = v.col
		sels[i] = strings.Fields(v.col)[0]
		if v.sel != "" {
			sels[i] = v.sel
		}
	}
	exec("DROP TABLE IF EXISTS params_t")
	exec("CREATE TABLE params_t (" + strings.Join(cols, ", ") + ")")
	id := c.prepareSync("INSERT INTO params_t VALUES (?" + strings.Repeat(", ?", len(vals)-1) + ")")
	c.send(executePacket(id, vals, true)...)
	c.expectOK("EXECUTE binding every type")
	// The same values again with new_params_bound_flag 0 (types reused),
	// under another id.
	vals[0].val = le32(2)
	c.send(executePacket(id, vals, false)...)
	c.expectOK("EXECUTE reusing the types")
	rows := c.queryRows("SELECT " + strings.Join(sels, ", ") + " FROM params_t ORDER BY id")
	require.Len(t, rows, 2)
	for i, v := range vals {
		want := v.stored
		if i == 0 {
			want = "1"
		}
		assert.Equal(t, want, rows[0][i], "column %s", v.col)
	}
	assert.Equal(t, "2", rows[1][0])
	assert.Equal(t, rows[0][1:], rows[1][1:], "types reused")
	// MySQL's JSON and VECTOR types: MariaDB refuses them, and decoding
	// stops there.
	mid := c.prepareSync("SELECT ?, ?, ?")
	c.send(executePacket(mid, []rawValue{{typ: protocol.TypeLong, val: le32(5)}, {typ: protocol.TypeJSON, val: lenencBytes(`[1]`)},
		{typ: protocol.TypeVector, val: lenencBytes("\x00\x00\x80\x3f")}}, true)...)
	if p := c.next("EXECUTE with JSON and VECTOR"); p.payload[0] != 0xFF || binary.LittleEndian.Uint16(p.payload[1:]) != 1210 {
		t.Fatalf("want ERR 1210, got %s", describePacket(p))
	}
	c.send(stmtCmd(protocol.ComStmtClose, mid)...)

	// SEND_LONG_DATA: two chunks for a TEXT, one for a BLOB; the EXECUTE
	// carries only the id. Long data is consumed by the EXECUTE and
	// forgotten by STMT_RESET.
	exec("DROP TABLE IF EXISTS long_t")
	exec("CREATE TABLE long_t (id INT PRIMARY KEY, a TEXT, b BLOB)")
	lid := c.prepareSync("INSERT INTO long_t VALUES (?, ?, ?)")
	long := func(param uint16, data string) {
		c.send(stmtCmd(protocol.ComStmtSendLongData, lid, append(le16(param), data...)...)...)
	}
	long(1, "hello ")
	long(1, "world")
	long(2, "\x00\x01")
	c.send(cat(stmtCmd(protocol.ComStmtExecute, lid, 0, 1, 0, 0, 0), []byte{0, 1, 0x03, 0, 0xFD, 0, 0xFC, 0}, le32(1))...)
	c.expectOK("EXECUTE with long data")
	c.send(cat(stmtCmd(protocol.ComStmtExecute, lid, 0, 1, 0, 0, 0), []byte{0, 0}, le32(2), lenencBytes("x"), lenencBytes("\x03"))...)
	c.expectOK("EXECUTE after long data")
	long(1, "dropped by the reset")
	c.send(stmtCmd(protocol.ComStmtReset, lid)...)
	c.expectOK("STMT_RESET")
	c.send(cat(stmtCmd(protocol.ComStmtExecute, lid, 0, 1, 0, 0, 0), []byte{0b100, 0}, le32(3), lenencBytes("after reset"))...)
	c.expectOK("EXECUTE after STMT_RESET")
	c.send(stmtCmd(protocol.ComStmtClose, lid)...)
	assert.Equal(t, [][]string{{"1", "hello world", "0001"}, {"2", "x", "03"}, {"3", "after reset", "NULL"}},
		c.queryRows("SELECT id, a, HEX(b) FROM long_t ORDER BY id"))

	// MariaDB: PREPARE + EXECUTE(-1) + EXECUTE(-1) + BULK_EXECUTE(-1) with
	// NULL and DEFAULT indicators, in one write. MariaDB wants the types
	// with every command naming -1.
	exec("DROP TABLE IF EXISTS pipe_t")
	exec("CREATE TABLE pipe_t (id INT PRIMARY KEY, v VARCHAR(20) DEFAULT 'dflt', n INT DEFAULT 7)")
	const last = 0xFFFFFFFF
	three := func(id int32, v string) []rawValue {
		return []rawValue{{typ: protocol.TypeLong, val: le32(uint32(id))},
			{typ: protocol.TypeVarString, val: lenencBytes(v)}, {typ: protocol.TypeLongLong, unsigned: true, val: le64(uint64(id) * 10)}}
	}
	// indicator-encoded bulk values: nil = NULL, "" = DEFAULT.
	bulkSet := func(id int32, v *string, n *int) []byte {
		b := append([]byte{0}, le32(uint32(id))...)
		switch {
		case v == nil:
			b = append(b, 1)
		case *v == "":
			b = append(b, 2)
		default:
			b = append(append(b, 0), lenencBytes(*v)...)
		}
		switch {
		case n == nil:
			b = append(b, 1)
		case *n < 0:
			b = append(b, 2)
		default:
			b = append(append(b, 0), le64(uint64(*n))...)
		}
		return b
	}
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	pipeline := cat(
		packetBytes(0, append([]byte{byte(protocol.ComStmtPrepare)}, "INSERT INTO pipe_t VALUES (?, ?, ?)"...)),
		packetBytes(0, executePacket(last, three(10, "ten"), true)),
		packetBytes(0, executePacket(last, three(11, "eleven"), true)), // MariaDB refuses -1 without types
		packetBytes(0, cat(stmtCmd(protocol.ComStmtBulkExecute, last, 0x80, 0, 0x03, 0, 0xFD, 0, 0x08, 0x80),
			bulkSet(20, str("twenty"), nil), bulkSet(21, str(""), num(-1)), bulkSet(22, nil, num(5)))),
	)
	_, err := c.conn.Write(pipeline)
	require.NoError(t, err)
	ok := c.next("PREPARE_OK")
	require.Zero(t, ok.payload[0], describePacket(ok))
	c.skipPrepareRest(ok)
	c.expectOK("EXECUTE(-1)")
	c.expectOK("EXECUTE(-1) again")
	c.expectOK("BULK_EXECUTE(-1) sending types")
	// Its real id, types reused.
	pid := binary.LittleEndian.Uint32(ok.payload[1:])
	c.send(cat(stmtCmd(protocol.ComStmtBulkExecute, pid, 0, 0), bulkSet(30, str("thirty"), num(30)))...)
	c.expectOK("BULK_EXECUTE, types reused")
	// IGNORE leaves a column alone in a bulk UPDATE.
	uid := c.prepareSync("UPDATE pipe_t SET v = ?, n = ? WHERE id = ?")
	c.send(cat(stmtCmd(protocol.ComStmtBulkExecute, uid, 0x80, 0, 0xFD, 0, 0x08, 0, 0x03, 0),
		[]byte{3, 0}, le64(99), []byte{0}, le32(20), // v IGNORE, n = 99
		[]byte{0}, lenencBytes("upd"), []byte{3, 0}, le32(21))...) // n IGNORE
	c.expectOK("BULK_EXECUTE with IGNORE")
	c.send(stmtCmd(protocol.ComStmtClose, uid)...)
	assert.Equal(t, [][]string{
		{"10", "ten", "100"}, {"11", "eleven", "110"},
		{"20", "twenty", "99"}, {"21", "upd", "7"}, {"22", "NULL", "5"},
		{"30", "thirty", "30"},
	}, c.queryRows("SELECT id, v, n FROM pipe_t ORDER BY id"))

	exec("DROP TABLE params_t, long_t, pipe_t")
	c.finish()
}

// rawParamsWant is what rawParamsScript decodes to.
func rawParamsWant(evs []*protocol.Event) []string {
	ids := map[string]uint32{}
	for _, e := range evs {
		if e.Command == protocol.ComStmtPrepare {
			ids[e.SQL] = e.StmtID
		}
	}
	vals := rawTypedValues()
	lits := make([]string, len(vals))
	cols := make([]string, len(vals))
	sels := make([]string, len(vals))
	for i, v := range vals {
		lits[i], cols[i], sels[i] = v.want, v.col, strings.Fields(v.col)[0]
		if v.sel != "" {
			sels[i] = v.sel
		}
	}
	insert := "INSERT INTO params_t VALUES (?" + strings.Repeat(", ?", len(vals)-1) + ")"
	const (
		long = "INSERT INTO long_t VALUES (?, ?, ?)"
		pipe = "INSERT INTO pipe_t VALUES (?, ?, ?)"
		upd  = "UPDATE pipe_t SET v = ?, n = ? WHERE id = ?"
	)
	stmt := func(sql string) string { return fmt.Sprintf("%s stmt=%d", quoteSQL(sql), ids[sql]) }
	query := func(sql string) string { return "query " + quoteSQL(sql) }
	return []string{
		`connect user=ql schema=harness results=1`,
		query("SET sql_mode = 'STRICT_TRANS_TABLES'") + ` results=1`,
		query("SET time_zone = '+00:00'") + ` results=1`,
		query("DROP TABLE IF EXISTS params_t") + ` results=1 warnings=1`,
		query("CREATE TABLE params_t ("+strings.Join(cols, ", ")+")") + ` results=1`,
		`stmt_prepare ` + stmt(insert) + ` results=1`,
		// The warning: MariaDB does not take the NEWDATE string for a date.
		`stmt_execute ` + stmt(insert) + ` results=1 affected=1 warnings=1 params=[` + strings.Join(lits, ", ") + `]`,
		`stmt_execute ` + stmt(insert) + ` results=1 affected=1 warnings=1 params=[2, ` + strings.Join(lits[1:], ", ") + `]`,
		query("SELECT "+strings.Join(sels, ", ")+" FROM params_t ORDER BY id") + ` results=1 rows=2`,
		`stmt_prepare ` + stmt("SELECT ?, ?, ?") + ` results=1`,
		`stmt_execute ` + stmt("SELECT ?, ?, ?") + ` err=1210 params=[5] param_count=3 params_undecodable`,
		`stmt_close ` + stmt("SELECT ?, ?, ?"),
		query("DROP TABLE IF EXISTS long_t") + ` results=1 warnings=1`,
		query("CREATE TABLE long_t (id INT PRIMARY KEY, a TEXT, b BLOB)") + ` results=1`,
		`stmt_prepare ` + stmt(long) + ` results=1`,
		`stmt_send_long_data ` + stmt(long),
		`stmt_send_long_data ` + stmt(long),
		`stmt_send_long_data ` + stmt(long),
		`stmt_execute ` + stmt(long) + ` results=1 affected=1 params=[1, '' /* long data, 11 bytes */, '' /* long data, 2 bytes */]`,
		`stmt_execute ` + stmt(long) + ` results=1 affected=1 params=[2, 'x', X'03']`,
		`stmt_send_long_data ` + stmt(long),
		`stmt_reset ` + stmt(long) + ` results=1`,
		`stmt_execute ` + stmt(long) + ` results=1 affected=1 params=[3, 'after reset', NULL]`,
		`stmt_close ` + stmt(long),
		query("SELECT id, a, HEX(b) FROM long_t ORDER BY id") + ` results=1 rows=3`,
		query("DROP TABLE IF EXISTS pipe_t") + ` results=1 warnings=1`,
		query("CREATE TABLE pipe_t (id INT PRIMARY KEY, v VARCHAR(20) DEFAULT 'dflt', n INT DEFAULT 7)") + ` results=1`,
		`stmt_prepare ` + stmt(pipe) + ` results=1`,
		`stmt_execute ` + stmt(pipe) + ` results=1 affected=1 params=[10, 'ten', 100]`,
		`stmt_execute ` + stmt(pipe) + ` results=1 affected=1 params=[11, 'eleven', 110]`,
		`stmt_bulk_execute ` + stmt(pipe) + ` results=1 affected=3 params=[20, 'twenty', NULL, 21, DEFAULT, DEFAULT, 22, NULL, 5] bulk=3`,
		`stmt_bulk_execute ` + stmt(pipe) + ` results=1 affected=1 params=[30, 'thirty', 30] bulk=1`,
		`stmt_prepare ` + stmt(upd) + ` results=1`,
		`stmt_bulk_execute ` + stmt(upd) + ` results=1 affected=2 params=[IGNORE, 99, 20, 'upd', IGNORE, 21] bulk=2`,
		`stmt_close ` + stmt(upd),
		query("SELECT id, v, n FROM pipe_t ORDER BY id") + ` results=1 rows=6`,
		query("DROP TABLE params_t, long_t, pipe_t") + ` results=1`,
		`quit`,
	}
}

// quoteSQL renders SQL as formatEvent does.
func quoteSQL(sql string) string {
	if len(sql) > 80 {
		sql = fmt.Sprintf("%s…(%d bytes)", sql[:60], len(sql))
	}
	return fmt.Sprintf("%q", sql)
}

// Go values go-sql-driver binds, and what they decode to.
type goArg struct {
	arg  any
	want any // Param.Value
	typ  protocol.FieldType
}

func goArgs() []goArg {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC)
	return []goArg{
		{arg: int64(-42), want: int64(-42), typ: protocol.TypeLongLong},
		{arg: int64(math.MinInt64), want: int64(math.MinInt64), typ: protocol.TypeLongLong},
		{arg: uint64(math.MaxUint64), want: uint64(math.MaxUint64), typ: protocol.TypeLongLong},
		{arg: 3.25, want: 3.25, typ: protocol.TypeDouble},
		{arg: true, want: int64(1), typ: protocol.TypeTiny},
		{arg: false, want: int64(0), typ: protocol.TypeTiny},
		{arg: "héllo 'world'", want: "héllo 'world'", typ: protocol.TypeString},
		{arg: []byte{0, 1, 2, 0xFF}, want: "\x00\x01\x02\xFF", typ: protocol.TypeString},
		{arg: ts, want: "2025-01-02 03:04:05.123456", typ: protocol.TypeString}, // the driver sends text
		{arg: nil, want: nil, typ: protocol.TypeNull},
		{arg: json.RawMessage(`{"k": [1, 2]}`), want: `{"k": [1, 2]}`, typ: protocol.TypeString},
		{arg: "", want: "", typ: protocol.TypeString},
	}
}

func recordGoParams(t *testing.T, srv *testdb.Server, addr string) {
	db := openDB(t, srv, addr, func(c *mysql.Config) {
		c.InterpolateParams = false
		c.Loc = time.UTC
	})
	ctx := context.Background()
	args := goArgs()
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = a.arg
	}
	// The server echoes each parameter as text: it understood them.
	sql := "SELECT CONCAT_WS('|', ?" + strings.Repeat(", ?", len(args)-1) + ")"
	var echo string
	require.NoError(t, db.QueryRowContext(ctx, sql, vals...).Scan(&echo))
	assert.Equal(t, "-42|-9223372036854775808|18446744073709551615|3.25|1|0|héllo 'world'|\x00\x01\x02\xFF|2025-01-02 03:04:05.123456|{\"k\": [1, 2]}|", echo)
	// A long string (cut to 256 bytes in the event) and many parameters
	// (64 kept).
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT LENGTH(?)", strings.Repeat("é", 200)).Scan(&n))
	require.Equal(t, 400, n)
	many := make([]any, 70)
	for i := range many {
		many[i] = i
	}
	require.NoError(t, db.QueryRowContext(ctx, "SELECT ?"+strings.Repeat(" + ?", 69), many...).Scan(&n))
	require.Equal(t, 69*70/2, n)
	require.NoError(t, db.Close())
}

// checkGoParams asserts the decoded values equal the bound Go values.
func checkGoParams(t *testing.T, s *protocol.Session, evs []*protocol.Event) {
	var execs []*protocol.Event
	for _, e := range evs {
		if e.Command == protocol.ComStmtExecute {
			execs = append(execs, e)
		}
	}
	require.Len(t, execs, 3)
	for _, e := range execs[:1] {
		args := goArgs()
		require.Len(t, e.Params, len(args))
		assert.False(t, e.ParamsUndecodable)
		for i, a := range args {
			p := e.Params[i]
			assert.Equal(t, a.typ, p.Type, "param %d (%T)", i, a.arg)
			assert.Equal(t, a.want, p.Value, "param %d (%T)", i, a.arg)
			assert.Equal(t, a.arg == nil, p.Null, "param %d", i)
			if u, ok := a.arg.(uint64); ok {
				assert.True(t, p.Unsigned, "param %d (%d)", i, u)
			}
		}
	}
	long := execs[1].Params
	require.Len(t, long, 1)
	assert.True(t, long[0].Truncated)
	assert.Equal(t, 400, long[0].Length)
	assert.Equal(t, strings.Repeat("é", 128), long[0].Value, "cut at 256 bytes, on a character boundary")
	many := execs[2]
	assert.Equal(t, 70, many.ParamCount)
	require.Len(t, many.Params, 64)
	for i, p := range many.Params {
		assert.Equal(t, int64(i), p.Value)
	}
}

func goParamsWant([]*protocol.Event) []string {
	concat := `"SELECT CONCAT_WS('|', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" stmt=1`
	sum := quoteSQL("SELECT ?"+strings.Repeat(" + ?", 69)) + " stmt=3"
	first64 := make([]string, 64)
	for i := range first64 {
		first64[i] = fmt.Sprint(i)
	}
	return []string{
		`connect user=ql schema=harness results=1`,
		`stmt_prepare ` + concat + ` results=1`,
		`stmt_execute ` + concat + ` results=1 rows=1 params=[-42, -9223372036854775808, 18446744073709551615, 3.25, 1, 0, 'héllo ''world''', X'000102ff', '2025-01-02 03:04:05.123456', NULL, '{"k": [1, 2]}', '']`,
		`stmt_close ` + concat,
		`stmt_prepare "SELECT LENGTH(?)" stmt=2 results=1`,
		`stmt_execute "SELECT LENGTH(?)" stmt=2 results=1 rows=1 params=['` + strings.Repeat("é", 128) + `' /* truncated, 400 bytes */]`,
		`stmt_close "SELECT LENGTH(?)" stmt=2`,
		`stmt_prepare ` + sum + ` results=1`,
		`stmt_execute ` + sum + ` results=1 rows=1 params=[` + strings.Join(first64, ", ") + `] param_count=70`,
		`stmt_close ` + sum,
		`quit`,
	}
}
