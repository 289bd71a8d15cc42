package protocol_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/protocol"
)

// Hand-built EXECUTE and BULK_EXECUTE packets: what the harness server
// cannot produce (MySQL's layouts, QUERY_ATTRIBUTES, hostile input) and the
// corners of the statement lifecycle.

// bind is one parameter of a hand-built EXECUTE.
type bind struct {
	typ  protocol.FieldType
	flag byte // 0x80: unsigned
	null bool
	val  []byte // value bytes as sent, length prefix included
	name string // query attribute name (QUERY_ATTRIBUTES only)
}

// execPayload builds a COM_STMT_EXECUTE payload. With qa, parameter_count
// is sent as a lenenc before the NULL bitmap.
func execPayload(id uint32, flags byte, binds []bind, bound, qa bool) []byte {
	b := stmtCmd(protocol.ComStmtExecute, id, flags, 1, 0, 0, 0)
	if qa {
		b = append(b, byte(len(binds)))
	}
	if len(binds) == 0 {
		return b
	}
	nulls := make([]byte, (len(binds)+7)/8)
	for i, p := range binds {
		if p.null {
			nulls[i/8] |= 1 << (i % 8)
		}
	}
	b = append(b, nulls...)
	if bound {
		b = append(b, 1)
		for _, p := range binds {
			b = append(b, byte(p.typ), p.flag)
			if qa {
				b = append(b, lenencBytes(p.name)...)
			}
		}
	} else {
		b = append(b, 0)
	}
	for _, p := range binds {
		if !p.null {
			b = append(b, p.val...)
		}
	}
	return b
}

// preparedFeeder logs in (as MySQL 8 or MariaDB) and prepares statement 1
// with n placeholders.
func preparedFeeder(t *testing.T, mysql bool, n uint16, cfg protocol.SessionConfig) *feeder {
	f := newFeeder(t, cfg)
	if mysql {
		f.loginMySQL()
	} else {
		f.loginMariaDB()
	}
	f.evs = nil
	f.client(packet(0, append([]byte{byte(protocol.ComStmtPrepare)}, "SELECT ?"...)))
	resp := packet(1, prepareOK(1, 0, n))
	for i := range n {
		resp = append(resp, packet(byte(2+i), colDef("?"))...)
	}
	f.server(resp)
	require.Len(t, f.evs, 1)
	f.evs = nil
	return f
}

// execute sends an EXECUTE payload, answers OK and returns its event.
func (f *feeder) execute(payload []byte) *protocol.Event {
	f.t.Helper()
	f.evs = nil
	f.client(packet(0, payload))
	f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
	require.NoError(f.t, f.s.Err())
	require.Len(f.t, f.evs, 1)
	return f.evs[0]
}

func TestExecuteParamValues(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, us int) time.Time {
		return time.Date(y, mo, d, h, mi, s, us*1000, time.UTC)
	}
	tests := []struct {
		name    string
		mysql   bool // else MariaDB
		p       bind
		want    any    // Param.Value
		null    bool   // Param.Null
		lit     string // Param.String()
		stopped bool   // decoding stops: ParamsUndecodable, no Params
	}{
		{name: "tiny signed", p: bind{typ: protocol.TypeTiny, val: []byte{0xFF}}, want: int64(-1), lit: "-1"},
		{name: "tiny unsigned", p: bind{typ: protocol.TypeTiny, flag: 0x80, val: []byte{0xFF}}, want: uint64(255), lit: "255"},
		{name: "short", p: bind{typ: protocol.TypeShort, val: le16(0xFFFE)}, want: int64(-2), lit: "-2"},
		{name: "long unsigned", p: bind{typ: protocol.TypeLong, flag: 0x80, val: le32(0xFFFFFFFF)}, want: uint64(math.MaxUint32), lit: "4294967295"},
		{name: "longlong", p: bind{typ: protocol.TypeLongLong, val: le64(1 << 63)}, want: int64(math.MinInt64), lit: "-9223372036854775808"},
		{name: "longlong unsigned max", p: bind{typ: protocol.TypeLongLong, flag: 0x80, val: le64(math.MaxUint64)}, want: uint64(math.MaxUint64), lit: "18446744073709551615"},
		{name: "float", p: bind{typ: protocol.TypeFloat, val: le32(math.Float32bits(0.1))}, want: float32(0.1), lit: "0.1"},
		{name: "double NaN", p: bind{typ: protocol.TypeDouble, val: le64(math.Float64bits(math.Inf(-1)))}, want: math.Inf(-1), lit: "'-Inf'"},
		{name: "double (mysql2 binds numbers so)", p: bind{typ: protocol.TypeDouble, val: le64(math.Float64bits(42))}, want: 42.0, lit: "42"},
		{name: "decimal", p: bind{typ: protocol.TypeNewDecimal, val: lenencBytes("-1.50")}, want: "-1.50", lit: "-1.50"},
		{name: "decimal that is not a number", p: bind{typ: protocol.TypeDecimal, val: lenencBytes("1;DROP")}, want: "1;DROP", lit: "'1;DROP'"},
		{name: "date", p: bind{typ: protocol.TypeDate, val: dateBytes(4, 2025, 12, 31, 0, 0, 0, 0, 0)}, want: utc(2025, 12, 31, 0, 0, 0, 0), lit: "'2025-12-31'"},
		{name: "zero datetime", p: bind{typ: protocol.TypeDatetime, val: dateBytes(0, 0, 0, 0, 0, 0, 0, 0, 0)}, want: time.Time{}, lit: "'0000-00-00 00:00:00'"},
		{name: "datetime with micros", p: bind{typ: protocol.TypeDatetime, val: dateBytes(11, 2025, 1, 2, 3, 4, 5, 7, 0)}, want: utc(2025, 1, 2, 3, 4, 5, 7), lit: "'2025-01-02 03:04:05.000007'"},
		{name: "timestamp to the second", p: bind{typ: protocol.TypeTimestamp, val: dateBytes(7, 1970, 1, 1, 0, 0, 1, 0, 0)}, want: utc(1970, 1, 1, 0, 0, 1, 0), lit: "'1970-01-01 00:00:01'"},
		{name: "datetime with a UTC offset (MySQL 8.0.19+)", mysql: true, p: bind{typ: protocol.TypeDatetime, val: dateBytes(13, 2025, 1, 2, 3, 4, 5, 0, -150)},
			want: time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", -150*60)), lit: "'2025-01-02 03:04:05-02:30'"},
		{name: "datetime that is no date", p: bind{typ: protocol.TypeDatetime, val: dateBytes(7, 2025, 2, 30, 0, 0, 0, 0, 0)}, want: "2025-02-30 00:00:00", lit: "'2025-02-30 00:00:00'"},
		{name: "date with a zero month", p: bind{typ: protocol.TypeDate, val: dateBytes(4, 2025, 0, 0, 0, 0, 0, 0, 0)}, want: "2025-00-00 00:00:00", lit: "'2025-00-00 00:00:00'"},
		{name: "first instant of year 1", p: bind{typ: protocol.TypeDatetime, val: dateBytes(7, 1, 1, 1, 0, 0, 0, 0, 0)}, want: "0001-01-01 00:00:00", lit: "'0001-01-01 00:00:00'"},
		{name: "time negative with micros", p: bind{typ: protocol.TypeTime, val: timeBytes(12, true, 34, 22, 59, 59, 999999)},
			want: -(34*24*time.Hour + 22*time.Hour + 59*time.Minute + 59*time.Second + 999999*time.Microsecond), lit: "'-838:59:59.999999'"},
		{name: "time zero", p: bind{typ: protocol.TypeTime, val: timeBytes(0, false, 0, 0, 0, 0, 0)}, want: time.Duration(0), lit: "'00:00:00'"},
		{name: "time beyond a Duration", p: bind{typ: protocol.TypeTime, val: timeBytes(8, false, 200000, 1, 2, 3, 0)}, want: "4800001:02:03", lit: "'4800001:02:03'"},
		{name: "varchar", p: bind{typ: protocol.TypeVarchar, val: lenencBytes("a'b\\c")}, want: `a'b\c`, lit: `'a''b\\c'`},
		{name: "blob", p: bind{typ: protocol.TypeBlob, val: lenencBytes("\x00\xFF")}, want: "\x00\xFF", lit: "X'00ff'"},
		{name: "enum", p: bind{typ: protocol.TypeEnum, val: lenencBytes("red")}, want: "red", lit: "'red'"},
		{name: "set", p: bind{typ: protocol.TypeSet, val: lenencBytes("a,b")}, want: "a,b", lit: "'a,b'"},
		{name: "0xFE length: low 32 bits", p: bind{typ: protocol.TypeString, val: append([]byte{0xFE, 2, 0, 0, 0, 7, 0, 0, 0}, "hi"...)}, want: "hi", lit: "'hi'"},
		{name: "string running past the packet (the server takes the rest)", p: bind{typ: protocol.TypeString, val: append([]byte{10}, "abc"...)}, want: "abc", lit: "'abc' /* truncated, 10 bytes */"},
		{name: "NULL by the bitmap, whatever the type", p: bind{typ: protocol.TypeLongLong, null: true}, null: true, lit: "NULL"},
		// MySQL reads the other types as strings.
		{name: "MySQL year", mysql: true, p: bind{typ: protocol.TypeYear, val: lenencBytes("2025")}, want: "2025", lit: "'2025'"},
		{name: "MySQL int24", mysql: true, p: bind{typ: protocol.TypeInt24, val: lenencBytes("-5")}, want: "-5", lit: "'-5'"},
		{name: "MySQL newdate", mysql: true, p: bind{typ: protocol.TypeNewDate, val: lenencBytes("2025-01-02")}, want: "2025-01-02", lit: "'2025-01-02'"},
		{name: "MySQL bit", mysql: true, p: bind{typ: protocol.TypeBit, val: lenencBytes("\x01")}, want: "\x01", lit: "X'01'"},
		{name: "MySQL json", mysql: true, p: bind{typ: protocol.TypeJSON, val: lenencBytes(`{"a":1}`)}, want: `{"a":1}`, lit: `'{"a":1}'`},
		{name: "MySQL geometry", mysql: true, p: bind{typ: protocol.TypeGeometry, val: lenencBytes("g")}, want: "g", lit: "X'67'"},
		{name: "MySQL vector", mysql: true, p: bind{typ: protocol.TypeVector, val: lenencBytes("\x00\x00\x80\x3f")}, want: "\x00\x00\x80\x3f", lit: "X'0000803f'"},
		{name: "MySQL NULL type with a clear bit", mysql: true, p: bind{typ: protocol.TypeNull, val: lenencBytes("x")}, want: "x", lit: "'x'"},
		// MariaDB reads nothing for some and binds NULL; refuses others.
		{name: "MariaDB year", p: bind{typ: protocol.TypeYear}, null: true, lit: "NULL"},
		{name: "MariaDB int24", p: bind{typ: protocol.TypeInt24}, null: true, lit: "NULL"},
		{name: "MariaDB bit", p: bind{typ: protocol.TypeBit}, null: true, lit: "NULL"},
		{name: "MariaDB geometry", p: bind{typ: protocol.TypeGeometry}, null: true, lit: "NULL"},
		{name: "MariaDB newdate", p: bind{typ: protocol.TypeNewDate, val: lenencBytes("x")}, want: "x", lit: "'x'"},
		{name: "MariaDB json", p: bind{typ: protocol.TypeJSON, val: lenencBytes("[]")}, stopped: true},
		{name: "MariaDB NULL type with a clear bit", p: bind{typ: protocol.TypeNull, val: lenencBytes("x")}, stopped: true},
		{name: "unknown type", mysql: true, p: bind{typ: 0x42, val: []byte{1}}, stopped: true},
		{name: "short value", p: bind{typ: protocol.TypeLongLong, val: []byte{1, 2, 3}}, stopped: true},
		{name: "temporal running past the packet", p: bind{typ: protocol.TypeDatetime, val: []byte{11, 1, 2}}, stopped: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := preparedFeeder(t, tc.mysql, 1, protocol.SessionConfig{})
			ev := f.execute(execPayload(1, 0, []bind{tc.p}, true, tc.mysql))
			assert.Equal(t, 1, ev.ParamCount)
			if tc.stopped {
				assert.True(t, ev.ParamsUndecodable)
				assert.Empty(t, ev.Params)
				return
			}
			assert.False(t, ev.ParamsUndecodable)
			require.Len(t, ev.Params, 1)
			p := ev.Params[0]
			assert.Equal(t, tc.p.typ, p.Type)
			assert.Equal(t, tc.p.flag != 0, p.Unsigned)
			assert.Equal(t, tc.null, p.Null)
			assert.Equal(t, tc.want, p.Value)
			assert.Equal(t, tc.lit, p.String())
		})
	}
}

// Values after a parameter that stops decoding are not guessed; those
// before it are kept.
func TestExecuteStopsAtUnknownType(t *testing.T) {
	f := preparedFeeder(t, false, 3, protocol.SessionConfig{})
	ev := f.execute(execPayload(1, 0, []bind{
		{typ: protocol.TypeLong, val: le32(7)}, {typ: 0x30, val: []byte{1, 2}}, {typ: protocol.TypeLong, val: le32(8)},
	}, true, false))
	assert.True(t, ev.ParamsUndecodable)
	assert.Equal(t, 3, ev.ParamCount)
	require.Len(t, ev.Params, 1)
	assert.Equal(t, int64(7), ev.Params[0].Value)
	assert.Equal(t, 1, ev.Results, "the command is still counted")
}

func TestExecuteTypesReused(t *testing.T) {
	f := preparedFeeder(t, false, 2, protocol.SessionConfig{})
	binds := []bind{{typ: protocol.TypeLongLong, flag: 0x80, val: le64(5)}, {typ: protocol.TypeVarString, val: lenencBytes("a")}}
	// Before any binding the types are unknown: nothing is guessed.
	ev := f.execute(execPayload(1, 0, binds, false, false))
	assert.True(t, ev.ParamsUndecodable)
	assert.Empty(t, ev.Params)

	ev = f.execute(execPayload(1, 0, binds, true, false))
	assert.False(t, ev.ParamsUndecodable)
	assert.Equal(t, "[5, 'a']", paramList(ev))

	// new_params_bound_flag 0: the last types, NULL from the bitmap.
	binds[0].val, binds[1].null = le64(6), true
	ev = f.execute(execPayload(1, 0, binds, false, false))
	assert.False(t, ev.ParamsUndecodable)
	assert.Equal(t, "[6, NULL]", paramList(ev))
	assert.True(t, ev.Params[0].Unsigned)
	assert.Equal(t, protocol.TypeVarString, ev.Params[1].Type)

	// Any non-zero flag binds (MySQL's reading); then a trailing stray
	// byte is ignored.
	p := execPayload(1, 0, []bind{{typ: protocol.TypeTiny, val: []byte{1}}, {typ: protocol.TypeTiny, val: []byte{2}}}, true, false)
	p[len(stmtCmd(protocol.ComStmtExecute, 1, 0, 1, 0, 0, 0))+1] = 7
	ev = f.execute(append(p, 0xAA))
	assert.Equal(t, "[1, 2]", paramList(ev))
	ev = f.execute(execPayload(1, 0, []bind{{typ: protocol.TypeTiny, val: []byte{3}}, {typ: protocol.TypeTiny, val: []byte{4}}}, false, false))
	assert.Equal(t, "[3, 4]", paramList(ev), "the new types are remembered")
}

// paramList renders an event's parameters as formatEvent does.
func paramList(ev *protocol.Event) string {
	s := make([]string, len(ev.Params))
	for i, p := range ev.Params {
		s[i] = p.String()
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func TestExecuteQueryAttributes(t *testing.T) {
	t.Run("bound parameters then named attributes", func(t *testing.T) {
		f := preparedFeeder(t, true, 2, protocol.SessionConfig{})
		binds := []bind{
			{typ: protocol.TypeLong, val: le32(1)},
			{typ: protocol.TypeVarString, val: lenencBytes("x")},
			{typ: protocol.TypeVarString, name: "traceparent", val: lenencBytes("00-abc-01")},
			{typ: protocol.TypeLongLong, flag: 0x80, name: "n", val: le64(9)},
			{typ: protocol.TypeNull, name: "z", null: true},
		}
		ev := f.execute(execPayload(1, 0x08, binds, true, true))
		assert.False(t, ev.ParamsUndecodable)
		assert.Equal(t, 2, ev.ParamCount)
		assert.Equal(t, "[1, 'x']", paramList(ev))
		assert.Equal(t, []protocol.Attr{{Key: "traceparent", Value: "00-abc-01"}, {Key: "n", Value: "9"}, {Key: "z"}}, ev.QueryAttributes)

		// Types and names reused.
		binds[2].val = lenencBytes("00-def-01")
		ev = f.execute(execPayload(1, 0x08, binds, false, true))
		assert.Equal(t, "[1, 'x']", paramList(ev))
		assert.Equal(t, []protocol.Attr{{Key: "traceparent", Value: "00-def-01"}, {Key: "n", Value: "9"}, {Key: "z"}}, ev.QueryAttributes)
	})
	t.Run("no placeholders: mysql2 sends a zero count", func(t *testing.T) {
		f := preparedFeeder(t, true, 0, protocol.SessionConfig{})
		ev := f.execute(append(execPayload(1, 0x08, nil, true, true), 0))
		assert.False(t, ev.ParamsUndecodable)
		assert.Empty(t, ev.Params)
		assert.Nil(t, ev.QueryAttributes)
	})
	t.Run("attributes only", func(t *testing.T) {
		f := preparedFeeder(t, true, 0, protocol.SessionConfig{})
		ev := f.execute(execPayload(1, 0x08, []bind{{typ: protocol.TypeVarString, name: "k", val: lenencBytes("v")}}, true, true))
		assert.False(t, ev.ParamsUndecodable)
		assert.Empty(t, ev.Params)
		assert.Equal(t, []protocol.Attr{{Key: "k", Value: "v"}}, ev.QueryAttributes)
	})
	t.Run("Connector/NET before 8.0.26: a count without the flag", func(t *testing.T) {
		f := preparedFeeder(t, true, 1, protocol.SessionConfig{})
		ev := f.execute(execPayload(1, 0, []bind{{typ: protocol.TypeLong, val: le32(3)}}, true, true))
		assert.Equal(t, "[3]", paramList(ev))
	})
	t.Run("named placeholder", func(t *testing.T) {
		f := preparedFeeder(t, true, 1, protocol.SessionConfig{})
		ev := f.execute(execPayload(1, 0x08, []bind{{typ: protocol.TypeLong, name: "id", val: le32(3)}}, true, true))
		require.Len(t, ev.Params, 1)
		assert.Equal(t, "id", ev.Params[0].Name)
	})
	t.Run("fewer parameters than placeholders", func(t *testing.T) {
		f := preparedFeeder(t, true, 2, protocol.SessionConfig{})
		ev := f.execute(execPayload(1, 0x08, []bind{{typ: protocol.TypeLong, val: le32(3)}}, true, true))
		assert.True(t, ev.ParamsUndecodable)
	})
}

func TestExecuteLongData(t *testing.T) {
	f := preparedFeeder(t, false, 3, protocol.SessionConfig{})
	long := func(param uint16, data string) []byte {
		return packet(0, stmtCmd(protocol.ComStmtSendLongData, 1, append(le16(param), data...)...))
	}
	binds := []bind{{typ: protocol.TypeLong, val: le32(1)}, {typ: protocol.TypeBlob}, {typ: protocol.TypeBlob, val: lenencBytes("c")}}
	// Pipelined: SEND_LONG_DATA ×3 (one for a parameter the statement
	// lacks), the EXECUTE, and SEND_LONG_DATA behind it, which counts for
	// the next EXECUTE only.
	f.evs = nil
	f.client(long(1, "hello "), long(1, "world"), long(7, "ignored"),
		packet(0, execPayload(1, 0, binds, true, false)), long(2, "next"))
	f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
	require.Len(t, f.evs, 5)
	ev := f.evs[3]
	assert.Equal(t, "[1, '' /* long data, 11 bytes */, 'c']", paramList(ev))
	assert.True(t, ev.Params[1].LongData)
	assert.Equal(t, 11, ev.Params[1].Length)
	assert.Nil(t, ev.Params[1].Value)

	binds[1].val = lenencBytes("b")
	binds[2] = bind{typ: protocol.TypeBlob, null: true} // long data wins over the NULL bit
	ev = f.execute(execPayload(1, 0, binds, true, false))
	assert.Equal(t, "[1, 'b', '' /* long data, 4 bytes */]", paramList(ev), "consumed by the previous EXECUTE")

	// STMT_RESET forgets long data.
	f.client(long(1, "gone"), packet(0, stmtCmd(protocol.ComStmtReset, 1)))
	f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
	binds[2] = bind{typ: protocol.TypeBlob, val: lenencBytes("c")}
	ev = f.execute(execPayload(1, 0, binds, false, false))
	assert.Equal(t, "[1, 'b', 'c']", paramList(ev))

	// Long data for an unknown statement is ignored.
	f.client(packet(0, stmtCmd(protocol.ComStmtSendLongData, 99, 0, 0, 'x')))
	require.NoError(t, f.s.Err())
}

func TestExecuteStatementLifecycle(t *testing.T) {
	one := []bind{{typ: protocol.TypeLong, val: le32(5)}}
	t.Run("RESET_CONNECTION drops statements", func(t *testing.T) {
		f := preparedFeeder(t, false, 1, protocol.SessionConfig{})
		f.client(packet(0, []byte{byte(protocol.ComResetConnection)}))
		f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
		ev := f.execute(execPayload(1, 0, one, true, false))
		assert.True(t, ev.ParamsUndecodable)
		assert.Empty(t, ev.SQL)
	})
	t.Run("a failed COM_CHANGE_USER keeps them, an unknown-handler ERR heals", func(t *testing.T) {
		f := preparedFeeder(t, false, 1, protocol.SessionConfig{})
		f.client(packet(0, []byte("\x11bob\x00\x00db\x00")))
		f.server(packet(1, append([]byte{0xFE}, "mysql_native_password\x00"...)))
		f.client(packet(2, make([]byte, 20)))
		f.server(packet(3, errPayload(1045, "28000", "Access denied")))
		ev := f.execute(execPayload(1, 0, one, true, false))
		assert.Equal(t, "[5]", paramList(ev), "decoded leniently against what was known")
		f.evs = nil
		f.client(packet(0, execPayload(1, 0, one, true, false)))
		f.server(packet(1, errPayload(1243, "HY000", "Unknown prepared statement handler")))
		assert.Equal(t, 0, f.s.Info().PreparedStatements, "the server does not know it: forgotten")
		ev = f.execute(execPayload(1, 0, one, true, false))
		assert.True(t, ev.ParamsUndecodable)
	})
	t.Run("a successful COM_CHANGE_USER drops them", func(t *testing.T) {
		f := preparedFeeder(t, false, 1, protocol.SessionConfig{})
		f.client(packet(0, []byte("\x11bob\x00\x00db\x00")))
		f.server(packet(1, append([]byte{0xFE}, "mysql_native_password\x00"...)))
		f.client(packet(2, make([]byte, 20)))
		f.server(packet(3, okPayload(0, 0, 0, 2, 0)))
		assert.Equal(t, 0, f.s.Info().PreparedStatements)
	})
	t.Run("MariaDB -1 pipelined behind its PREPARE", func(t *testing.T) {
		f := preparedFeeder(t, false, 1, protocol.SessionConfig{})
		f.evs = nil
		// The new statement has two placeholders: decoding with the old
		// one's single parameter would go wrong.
		f.client(packet(0, append([]byte{byte(protocol.ComStmtPrepare)}, "INSERT INTO t VALUES (?, ?)"...)),
			packet(0, execPayload(0xFFFFFFFF, 0, []bind{{typ: protocol.TypeLong, val: le32(1)}, {typ: protocol.TypeVarString, val: lenencBytes("z")}}, true, false)),
			packet(0, stmtCmd(protocol.ComStmtClose, 0xFFFFFFFF)))
		f.server(packet(1, prepareOK(2, 0, 2)), packet(2, colDef("?")), packet(3, colDef("?")))
		f.server(packet(1, okPayload(0, 1, 0, 2, 0)))
		require.NoError(t, f.s.Err())
		assert.Equal(t, []string{
			`stmt_prepare "INSERT INTO t VALUES (?, ?)" stmt=2 results=1`,
			`stmt_execute "INSERT INTO t VALUES (?, ?)" stmt=2 results=1 affected=1 params=[1, 'z']`,
			`stmt_close "INSERT INTO t VALUES (?, ?)" stmt=2`,
		}, f.formatted())
	})
	t.Run("MariaDB -1 after a failed PREPARE", func(t *testing.T) {
		f := preparedFeeder(t, false, 1, protocol.SessionConfig{})
		f.evs = nil
		f.client(packet(0, append([]byte{byte(protocol.ComStmtPrepare)}, "SELEC ?"...)),
			packet(0, execPayload(0xFFFFFFFF, 0, one, true, false)))
		f.server(packet(1, errPayload(1064, "42000", "syntax")))
		f.server(packet(1, errPayload(1243, "HY000", "Unknown prepared statement handler")))
		assert.Equal(t, []string{`stmt_prepare "SELEC ?" err=1064`, `stmt_execute stmt=4294967295 err=1243 params_undecodable`}, f.formatted())
	})
}

func TestExecuteLimits(t *testing.T) {
	t.Run("MaxParamBytes cuts on a character boundary", func(t *testing.T) {
		f := preparedFeeder(t, false, 1, protocol.SessionConfig{MaxParamBytes: 4})
		ev := f.execute(execPayload(1, 0, []bind{{typ: protocol.TypeVarString, val: lenencBytes("aéé")}}, true, false))
		p := ev.Params[0]
		assert.Equal(t, "aé", p.Value)
		assert.True(t, p.Truncated)
		assert.Equal(t, 5, p.Length)
		assert.Equal(t, "'aé' /* truncated, 5 bytes */", p.String())
	})
	t.Run("64 parameters kept, all counted", func(t *testing.T) {
		f := preparedFeeder(t, false, 100, protocol.SessionConfig{})
		binds := make([]bind, 100)
		for i := range binds {
			binds[i] = bind{typ: protocol.TypeLong, val: le32(uint32(i))}
		}
		ev := f.execute(execPayload(1, 0, binds, true, false))
		assert.False(t, ev.ParamsUndecodable)
		assert.Equal(t, 100, ev.ParamCount)
		require.Len(t, ev.Params, 64)
		assert.Equal(t, int64(63), ev.Params[63].Value)
	})
	t.Run("a packet cut by the copy limit, whatever the chunking", func(t *testing.T) {
		big := []bind{{typ: protocol.TypeBlob, val: lenencBytes(strings.Repeat("x", 10000))}, {typ: protocol.TypeLong, val: le32(1)}}
		last := []bind{{typ: protocol.TypeLong, val: le32(1)}, {typ: protocol.TypeBlob, val: lenencBytes(strings.Repeat("x", 10000))}}
		for _, chunk := range []int{1 << 20, 100} {
			f := preparedFeeder(t, false, 2, protocol.SessionConfig{MaxSQLBytes: 100})
			f.evs = nil
			feedChunks(f.s, protocol.FromClient, packet(0, execPayload(1, 0, big, true, false)), chunk, base)
			f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
			feedChunks(f.s, protocol.FromClient, packet(0, execPayload(1, 0, last, true, false)), chunk, base)
			f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
			require.Len(t, f.evs, 2)
			ev := f.evs[0]
			assert.True(t, ev.ParamsUndecodable, "the value after the cut is lost")
			require.Len(t, ev.Params, 1)
			assert.True(t, ev.Params[0].Truncated)
			assert.Equal(t, 10000, ev.Params[0].Length)
			ev = f.evs[1]
			assert.False(t, ev.ParamsUndecodable, "a cut last value loses nothing else")
			assert.Equal(t, 10000, ev.Params[1].Length)
		}
	})
	t.Run("pipelined EXECUTEs beyond the copy budget", func(t *testing.T) {
		f := preparedFeeder(t, false, 1, protocol.SessionConfig{})
		f.evs = nil
		const n = 40
		exec := packet(0, execPayload(1, 0, []bind{{typ: protocol.TypeBlob, val: lenencBytes(strings.Repeat("y", 60000))}}, true, false))
		// A query in flight first, so that every EXECUTE waits.
		f.client(packet(0, query("DO SLEEP(1)")))
		for range n {
			f.client(exec)
		}
		assert.LessOrEqual(t, f.s.Footprint(), 4<<20)
		for range n + 1 {
			f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
		}
		require.Len(t, f.evs, n+1)
		lost := 0
		for _, e := range f.evs[1:] {
			if e.ParamsUndecodable {
				lost++
				continue
			}
			assert.Equal(t, 60000, e.Params[0].Length)
		}
		assert.Greater(t, lost, 0)
		assert.Less(t, lost, n)
		assert.LessOrEqual(t, (n-lost)*60000, 1<<20, "at most 1 MiB of copies waits")
		assert.Less(t, f.s.Footprint(), 1<<20, "copies released")
	})
}

func TestBulkExecute(t *testing.T) {
	bulk := func(flags byte, types []byte, sets ...[]byte) []byte {
		b := stmtCmd(protocol.ComStmtBulkExecute, 1, flags, 0)
		b = append(b, types...)
		return cat(append([][]byte{b}, sets...)...)
	}
	f := preparedFeeder(t, false, 2, protocol.SessionConfig{})
	// No types sent and none known.
	ev := f.execute(bulk(0, nil, []byte{1, 1}))
	assert.True(t, ev.ParamsUndecodable)
	// Five sets: all counted, four kept; every indicator.
	types := []byte{byte(protocol.TypeLong), 0x80, byte(protocol.TypeVarString), 0}
	var sets [][]byte
	for i := range 5 {
		sets = append(sets, cat([]byte{0}, le32(uint32(i)), []byte{byte(i % 4)}))
		if i%4 == 0 {
			sets[i] = append(sets[i], lenencBytes("v")...)
		}
	}
	ev = f.execute(bulk(0x80, types, sets...))
	assert.False(t, ev.ParamsUndecodable)
	assert.Equal(t, 5, ev.BulkRows)
	assert.Equal(t, 2, ev.ParamCount)
	assert.Equal(t, "[0, 'v', 1, NULL, 2, DEFAULT, 3, IGNORE]", paramList(ev))
	assert.True(t, ev.Params[0].Unsigned)
	// Types reused; a set cut short; an unknown indicator.
	ev = f.execute(bulk(0, nil, sets[1], []byte{0, 1}))
	assert.Equal(t, 1, ev.BulkRows)
	assert.True(t, ev.ParamsUndecodable)
	ev = f.execute(bulk(0, nil, sets[1], []byte{9}))
	assert.Equal(t, 1, ev.BulkRows)
	assert.True(t, ev.ParamsUndecodable)
}

func TestParamSQLLiteral(t *testing.T) {
	tests := []struct {
		p    protocol.Param
		want string
	}{
		{protocol.Param{Value: int64(-3)}, "-3"},
		{protocol.Param{Null: true, Value: int64(1)}, "NULL"},
		{protocol.Param{}, "NULL"},
		{protocol.Param{Default: true}, "DEFAULT"},
		{protocol.Param{Ignore: true}, "IGNORE"},
		{protocol.Param{LongData: true, Length: 3}, "'' /* long data, 3 bytes */"},
		{protocol.Param{Value: float32(1.5)}, "1.5"},
		{protocol.Param{Value: 1e21}, "1e+21"},
		{protocol.Param{Value: math.NaN()}, "'NaN'"},
		{protocol.Param{Value: true}, "TRUE"},
		{protocol.Param{Value: "it's\n\t\\\x00\x1a\b\r"}, `'it''s\n\t\\\0\Z\b\r'`},
		{protocol.Param{Value: "\x01"}, "X'01'"},
		{protocol.Param{Value: "\xff"}, "X'ff'"},
		{protocol.Param{Value: []byte("ab")}, "'ab'"},
		{protocol.Param{Type: protocol.TypeBit, Value: "a"}, "X'61'"},
		{protocol.Param{Type: protocol.TypeNewDecimal, Value: "1e5"}, "1e5"},
		{protocol.Param{Type: protocol.TypeNewDecimal, Value: "+.5"}, "+.5"},
		{protocol.Param{Type: protocol.TypeNewDecimal, Value: "1e"}, "'1e'"},
		{protocol.Param{Type: protocol.TypeNewDecimal, Value: "."}, "'.'"},
		{protocol.Param{Value: "abc", Truncated: true, Length: 9}, "'abc' /* truncated, 9 bytes */"},
		{protocol.Param{Type: protocol.TypeDate, Value: time.Date(33, 2, 3, 0, 0, 0, 0, time.UTC)}, "'0033-02-03'"},
		{protocol.Param{Type: protocol.TypeDate, Value: time.Time{}}, "'0000-00-00'"},
		{protocol.Param{Value: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.FixedZone("", 5*3600+30*60))}, "'2025-01-02 03:04:05.000006+05:30'"},
		{protocol.Param{Value: 25*time.Hour + time.Microsecond}, "'25:00:00.000001'"},
		{protocol.Param{Value: -time.Second}, "'-00:00:01'"},
		{protocol.Param{Value: struct{}{}}, "?"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tc.p.String(), "%#v", tc.p)
		assert.Equal(t, "x="+tc.want, string(tc.p.AppendSQLLiteral([]byte("x="))))
	}
}

func TestFieldTypeString(t *testing.T) {
	assert.Equal(t, "longlong", protocol.TypeLongLong.String())
	assert.Equal(t, "var_string", protocol.TypeVarString.String())
	assert.Equal(t, "geometry", protocol.TypeGeometry.String())
	assert.Equal(t, "vector", protocol.TypeVector.String())
	assert.Equal(t, "decimal", protocol.TypeDecimal.String())
	assert.Equal(t, "unknown", protocol.FieldType(0x42).String())
	assert.Equal(t, "unknown", protocol.FieldType(0xF3).String())
	for i := range 256 {
		assert.NotEmpty(t, protocol.FieldType(i).String())
	}
}

// An EXECUTE costs its Event and the boxing of its times and FLOATs; its
// Params, string bytes and other boxed values are windows of slabs, each a
// new allocation now and then.
func TestExecuteAllocations(t *testing.T) {
	tests := []struct {
		name  string
		binds []bind
		max   float64
	}{
		{"small ints and NULL", []bind{{typ: protocol.TypeLong, val: le32(7)}, {typ: protocol.TypeTiny, val: []byte{1}},
			{typ: protocol.TypeLong, null: true}, {typ: protocol.TypeLongLong, val: le64(0)}}, 1},
		{"typical row", []bind{{typ: protocol.TypeLongLong, val: le64(123456)}, {typ: protocol.TypeVarString, val: lenencBytes("alice@example.com")},
			{typ: protocol.TypeVarString, val: lenencBytes("Alice")}, {typ: protocol.TypeDatetime, val: dateBytes(7, 2025, 1, 2, 3, 4, 5, 0, 0)}}, 2},
		{"numbers and strings", []bind{{typ: protocol.TypeLongLong, val: le64(1 << 40)}, {typ: protocol.TypeLongLong, flag: 0x80, val: le64(1 << 63)},
			{typ: protocol.TypeDouble, val: le64(math.Float64bits(2.5))}, {typ: protocol.TypeVarString, val: lenencBytes("Alice")}}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := loggedIn(t)
			prep := cat(packet(1, prepareOK(1, 0, 4)), packet(2, colDef("?")), packet(3, colDef("?")), packet(4, colDef("?")), packet(5, colDef("?")))
			s.Feed(protocol.FromClient, packet(0, append([]byte{byte(protocol.ComStmtPrepare)}, "INSERT INTO t VALUES (?, ?, ?, ?)"...)), base)
			s.Feed(protocol.FromServer, prep, base)
			exec := packet(0, execPayload(1, 0, tc.binds, true, false))
			ok := packet(1, okPayload(0, 1, 0, 2, 0))
			allocs := testing.AllocsPerRun(100, func() {
				s.Feed(protocol.FromClient, exec, base)
				s.Feed(protocol.FromServer, ok, base)
			})
			t.Logf("%v allocations per EXECUTE", allocs)
			if allocs > tc.max {
				t.Errorf("%v allocations per EXECUTE, want at most %v", allocs, tc.max)
			}
		})
	}
}

// TestExecuteValuesOutliveLaterEvents keeps the events of many EXECUTEs
// and checks their values afterwards: the Params and string bytes of an
// event are windows of slabs the session shares, which later events must
// never write over, even when a handler appends to an event's Params.
func TestExecuteValuesOutliveLaterEvents(t *testing.T) {
	f := preparedFeeder(t, false, 3, protocol.SessionConfig{MaxParamBytes: 300})
	type want struct {
		id        int64
		name, day string
	}
	var evs []*protocol.Event
	var wants []want
	for i := range 500 {
		name := strings.Repeat(string(rune('a'+i%26)), i%280)
		w := want{id: int64(1000 + i), name: name, day: fmt.Sprintf("2025-02-%02d 00:00:00", 30+i%2)} // no such day: kept as text
		ev := f.execute(execPayload(1, 0, []bind{
			{typ: protocol.TypeLongLong, val: le64(uint64(w.id))},
			{typ: protocol.TypeVarString, val: lenencBytes(name)},
			{typ: protocol.TypeDatetime, val: dateBytes(4, 2025, 2, 30+i%2, 0, 0, 0, 0, 0)},
		}, true, false))
		require.Len(t, ev.Params, 3)
		ev.Params = append(ev.Params, protocol.Param{Value: "appended"}) // must not reach the next event's
		evs, wants = append(evs, ev), append(wants, w)
	}
	for i, ev := range evs {
		require.Equal(t, wants[i].id, ev.Params[0].Value, "event %d", i)
		require.Equal(t, wants[i].name, ev.Params[1].Value, "event %d", i)
		require.Equal(t, wants[i].day, ev.Params[2].Value, "event %d", i)
		require.Equal(t, "appended", ev.Params[3].Value, "event %d", i)
	}
}

// BenchmarkDecodeExecute feeds a typical EXECUTE (an id, two strings, a
// DATETIME, a NULL) and its OK.
func BenchmarkDecodeExecute(b *testing.B) {
	s := loggedIn(b)
	prep := packet(1, prepareOK(1, 0, 5))
	for i := range 5 {
		prep = append(prep, packet(byte(2+i), colDef("?"))...)
	}
	s.Feed(protocol.FromClient, packet(0, append([]byte{byte(protocol.ComStmtPrepare)}, "INSERT INTO users VALUES (?, ?, ?, ?, ?)"...)), base)
	s.Feed(protocol.FromServer, prep, base)
	exec := packet(0, execPayload(1, 0, []bind{
		{typ: protocol.TypeLongLong, val: le64(123456)},
		{typ: protocol.TypeVarString, val: lenencBytes("alice@example.com")},
		{typ: protocol.TypeVarString, val: lenencBytes("Alice Liddell")},
		{typ: protocol.TypeDatetime, val: dateBytes(11, 2025, 1, 2, 3, 4, 5, 6, 0)},
		{typ: protocol.TypeLong, null: true},
	}, true, false))
	ok := packet(1, okPayload(0, 1, 0, 2, 0))
	b.SetBytes(int64(len(exec)))
	b.ReportAllocs()
	for b.Loop() {
		s.Feed(protocol.FromClient, exec, base)
		s.Feed(protocol.FromServer, ok, base)
	}
	if s.Err() != nil || s.InFlight() != 0 {
		b.Fatalf("session state: %v, in flight %d", s.Err(), s.InFlight())
	}
}
