package protocol

import (
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Event describes one command and its complete response, or the outcome of a
// connection's handshake (Command == ComConnect). A Session hands a fresh
// Event per command to its Handler, which then owns it (and may give it back
// with Release).
type Event struct {
	// Command is the command byte (ComQuery, ComInitDB, ...). ComConnect marks
	// the end of the connection phase; its ErrorCode is set when login failed.
	// For ComConnect, Sent, Start and FirstResponse are the time of the
	// server's greeting, End that of the OK/ERR ending authentication, and
	// BytesIn/BytesOut count the whole handshake. A connection that switches
	// to TLS (not decoded) or to a protocol variant this package does not
	// decode yields an Incomplete ComConnect at that moment.
	Command Command

	// SQL is the statement text of a COM_QUERY (without any query-attribute
	// prefix) or a COM_STMT_PREPARE, the schema of a COM_INIT_DB, or empty.
	// For the commands that name a prepared statement (EXECUTE, FETCH,
	// BULK_EXECUTE, RESET, CLOSE, SEND_LONG_DATA) it is the SQL of that
	// statement as prepared on this connection, when the PREPARE was seen.
	// It holds at most SessionConfig.MaxSQLBytes bytes (cut at a UTF-8
	// boundary); SQLTruncated reports a cut and SQLLength gives the full
	// length on the wire. SQLTruncated with an empty SQL means the statement
	// could not be located (a query-attribute prefix that did not decode).
	SQL          string
	SQLTruncated bool
	SQLLength    int

	// StmtID is the prepared statement's id: the one a COM_STMT_PREPARE
	// created, or the one a statement command names (MariaDB's 0xFFFFFFFF,
	// "last prepared", resolved to the real id when known).
	StmtID uint32

	// QueryAttributes are the attributes a COM_QUERY or COM_STMT_EXECUTE
	// carried under CLIENT_QUERY_ATTRIBUTES (MySQL 8.0.23+): at most 16,
	// values rendered as text (integers, floats, strings; temporal values
	// empty; NULL empty). nil when there were none.
	QueryAttributes []Attr

	// Params are the decoded parameters of a COM_STMT_EXECUTE, in
	// placeholder order, or of a COM_STMT_BULK_EXECUTE, one parameter set
	// after another (set k is Params[k*ParamCount:(k+1)*ParamCount]).
	// Decoding happens when the response starts, against the statement as
	// the server knew it then (§10). At most 64 parameters are kept (for
	// BULK, at most 4 sets); more are counted in ParamCount and BulkRows.
	// Each value is cut to SessionConfig.MaxParamBytes. Params and its
	// strings are windows of memory shared with other events of the same
	// session (never written again once handed out): holding one event's
	// Params keeps a few kilobytes alive.
	Params []Param
	// ParamCount is the statement's number of placeholders (num_params of
	// its PREPARE response) when known; query attributes are not counted.
	ParamCount int
	// ParamsUndecodable is set when the parameters could not all be
	// decoded: the statement or its parameter types were not seen (the
	// capture started late, or the types were bound before it), a type is
	// unknown, the packet is malformed, or it was cut by the copy limit
	// before its last value. Params then holds the values decoded before
	// the point where decoding stopped. The command is timed and counted
	// as usual.
	ParamsUndecodable bool
	// BulkRows is the number of parameter sets of a COM_STMT_BULK_EXECUTE
	// (a lower bound when ParamsUndecodable is set).
	BulkRows int

	// Connection attributes at the time the command was sent.
	User       string
	Schema     string
	ClientAddr string
	ConnID     uint32 // server-assigned connection id from the greeting

	// Sent is when the first byte of the command arrived from the client,
	// Start is max(Sent, end of the previous response) (differs from Sent only
	// for pipelined commands), FirstResponse is when the first byte of the
	// response arrived, End is when its last byte arrived. All are zero when
	// not known (for example End of an Incomplete event).
	Sent          time.Time
	Start         time.Time
	FirstResponse time.Time
	End           time.Time

	// Results is the number of results in the response that completed: OK
	// packets and result sets (several for a multi-statement query or a
	// CALL). A PREPARE_OK, a COM_STMT_FETCH batch and the bare text answer of
	// COM_STATISTICS count as one; the ERR that ends a response does not.
	Results int
	// RowsSent counts rows over all result sets; RowsAffected and Warnings are
	// summed over all results; LastInsertID is the last non-zero one seen.
	RowsSent     uint64
	RowsAffected uint64
	LastInsertID uint64
	Warnings     uint64
	// Status holds the server status flags of the last OK/EOF of the response.
	Status uint16

	// ErrorCode is non-zero when the command (or one of its statements)
	// ended in an ERR packet; SQLState and ErrorMessage come from that packet.
	ErrorCode    uint16
	SQLState     string
	ErrorMessage string

	// BytesIn counts wire bytes client→server for this command (headers
	// included; LOCAL INFILE uploads and COM_CHANGE_USER auth packets
	// included); BytesOut counts wire bytes server→client for its response.
	// Under the compressed protocol both count the decompressed packet
	// stream (packet headers included), not the compressed frames.
	BytesIn  uint64
	BytesOut uint64

	// Incomplete is set when the connection closed (or the decoder lost
	// track) before the response ended.
	Incomplete bool
}

// eventFree holds the Events given back with Release, at most
// maxFreeEvents of them (under 1 MiB). An Event is a few hundred bytes with
// pointers: allocating one per command was the decoder's largest cost
// under load (allocation and the garbage collector's share of it, paid by
// the relay's loops). A sync.Pool held them before, but events are taken
// on the relay's loops and given back on the statistics goroutine, so
// every Get found its own P's pool empty and stole from another's (about
// 1 % of the relay's CPU at 32 client threads); a list under a mutex that
// is rarely contended costs less.
var eventFree struct {
	sync.Mutex
	list []*Event
}

const maxFreeEvents = 2048

// eventBatch is how many events a Session takes from the free list at a
// time, and keeps as spares: the list's lock and slots are shared with the
// other sessions' goroutines and the goroutine that releases events, and
// each trip there costs a cache miss or two.
const eventBatch = 4

// newEvent returns a zeroed Event: a spare, or a new one when the free
// list is empty.
func (s *Session) newEvent() *Event {
	if s.spares == 0 {
		eventFree.Lock()
		n := len(eventFree.list)
		k := min(n, eventBatch)
		copy(s.spare[:], eventFree.list[n-k:])
		clear(eventFree.list[n-k:])
		eventFree.list = eventFree.list[:n-k]
		eventFree.Unlock()
		s.spares = k
		if k == 0 {
			return new(Event)
		}
	}
	s.spares--
	ev := s.spare[s.spares]
	s.spare[s.spares] = nil
	return ev
}

// dropSpares gives the session's spare events back to the free list.
func (s *Session) dropSpares() {
	if s.spares > 0 {
		free(s.spare[:s.spares])
		clear(s.spare[:])
		s.spares = 0
	}
}

// Release gives ev back for reuse by a later command of any Session. Only
// the event's owner (the Handler it was emitted to, or whoever that handed
// it to) may call it, once, when nothing refers to ev itself any more: the
// values it held stay valid (SQL, Params and the other strings and slices
// are not reused), but the Event is zeroed and handed out again. Owners that
// do not call it lose nothing but speed: the event is then collected.
func (ev *Event) Release() {
	ReleaseAll([]*Event{ev})
}

// ReleaseAll releases every event of evs, as Release does, at once: an
// owner that gives events back in batches takes the free list's lock once
// per batch. evs itself is not kept.
func ReleaseAll(evs []*Event) {
	for _, ev := range evs {
		*ev = Event{}
	}
	free(evs)
}

// free puts zeroed events on the free list, as many as fit.
func free(evs []*Event) {
	eventFree.Lock()
	n := min(len(evs), maxFreeEvents-len(eventFree.list))
	eventFree.list = append(eventFree.list, evs[:max(n, 0)]...)
	eventFree.Unlock()
}

// Latency returns End − Sent: what the client waited, or 0 when unknown.
func (e *Event) Latency() time.Duration {
	if e.End.IsZero() || e.Sent.IsZero() {
		return 0
	}
	return e.End.Sub(e.Sent)
}

// TimeToFirstByte returns FirstResponse − Sent, or 0 when unknown.
func (e *Event) TimeToFirstByte() time.Duration {
	if e.FirstResponse.IsZero() || e.Sent.IsZero() {
		return 0
	}
	return e.FirstResponse.Sub(e.Sent)
}

// Param is one parameter value of a COM_STMT_EXECUTE or of a parameter set
// of a COM_STMT_BULK_EXECUTE, decoded from the binary protocol (§10.4).
//
// Value holds, by Type:
//
//	TINY, SHORT, LONG, LONGLONG       int64, or uint64 when Unsigned
//	FLOAT, DOUBLE                     float32, float64
//	DATE, DATETIME, TIMESTAMP         time.Time in UTC, or in a fixed zone for
//	                                  MySQL's 13-byte form with a UTC offset;
//	                                  the zero Time for a zero date; a string
//	                                  "YYYY-MM-DD hh:mm:ss.ffffff" when the
//	                                  fields make no calendar date (month 0...)
//	TIME                              time.Duration, or a string
//	                                  "[-]hhh:mm:ss.ffffff" when it overflows
//	any other type                    string: the bytes as sent, cut to the
//	                                  per-value cap (decimal text for DECIMAL)
//	NULL bitmap bit, BULK NULL        nil, with Null set (see below for MariaDB)
//
// The types follow the server, not binary result rows: MySQL reads
// parameters typed YEAR, INT24, NEWDATE, BIT, JSON, GEOMETRY, VECTOR or
// NULL (with the NULL bit clear) as length-prefixed strings, so they decode
// to strings; MariaDB reads no bytes for YEAR, INT24, BIT and GEOMETRY and
// binds NULL, so they decode to nil with Null set.
//
// A parameter fed by COM_STMT_SEND_LONG_DATA has LongData set, a nil Value
// (its bytes are not kept) and Length the number of bytes sent.
type Param struct {
	Type     FieldType // type byte as bound by the client
	Unsigned bool      // the type's unsigned flag (0x80 of the flag byte)
	Null     bool      // NULL: by the NULL bitmap, the BULK indicator, or MariaDB's reading of the type
	LongData bool      // the value came via COM_STMT_SEND_LONG_DATA and is not kept
	// Default and Ignore are the DEFAULT and IGNORE indicators of a
	// COM_STMT_BULK_EXECUTE parameter set: no value was sent.
	Default bool
	Ignore  bool
	// Truncated reports that Value holds only a prefix of a longer string:
	// cut to SessionConfig.MaxParamBytes (at a UTF-8 boundary), or by the
	// end of the part of the packet the session kept.
	Truncated bool
	// Length is the length in bytes a string value declares on the wire,
	// or the bytes sent by SEND_LONG_DATA; 0 for the other types.
	Length int
	// Name is the parameter's name when the client sent one (query
	// attributes, MySQL 8.0.23+); usually empty.
	Name  string
	Value any
}

// String returns the value rendered as a SQL literal (see AppendSQLLiteral).
func (p Param) String() string { return string(p.AppendSQLLiteral(nil)) }

// AppendSQLLiteral appends the value rendered as a SQL literal to dst, in a
// stable form meant for query samples:
//
//	NULL, DEFAULT, IGNORE
//	42  -7  18446744073709551615  1.5  2.5e+30  12.50 (DECIMAL text)
//	'it''s'  with backslash escapes for \\ \0 \n \r \t \b \Z (MySQL's default sql_mode)
//	X'00ff'  for BIT, GEOMETRY, VECTOR and strings that are not printable UTF-8
//	'2025-01-02'  '2025-01-02 03:04:05'  '2025-01-02 03:04:05.000123'  '…+05:30'
//	'-838:59:59.000001' (TIME)
//
// A truncated value is followed by a comment giving its full length,
// and a long-data parameter renders as an empty string and a comment with
// its length:
//
//	'abc' /* truncated, 70000 bytes */
//	'' /* long data, 5 bytes */
//
// NaN and infinities, which SQL cannot spell, render as quoted strings.
func (p Param) AppendSQLLiteral(dst []byte) []byte {
	switch {
	case p.Default:
		return append(dst, "DEFAULT"...)
	case p.Ignore:
		return append(dst, "IGNORE"...)
	case p.LongData:
		dst = append(dst, "'' /* long data, "...)
		dst = strconv.AppendInt(dst, int64(p.Length), 10)
		return append(dst, " bytes */"...)
	case p.Null || p.Value == nil:
		return append(dst, "NULL"...)
	}
	switch v := p.Value.(type) {
	case int64:
		dst = strconv.AppendInt(dst, v, 10)
	case uint64:
		dst = strconv.AppendUint(dst, v, 10)
	case float32:
		dst = appendFloat(dst, float64(v), 32)
	case float64:
		dst = appendFloat(dst, v, 64)
	case bool:
		if v {
			return append(dst, "TRUE"...)
		}
		return append(dst, "FALSE"...)
	case string:
		dst = appendStringLiteral(dst, v, p.Type)
	case []byte:
		dst = appendStringLiteral(dst, string(v), p.Type)
	case time.Time:
		dst = append(dst, '\'')
		dst = appendDateTime(dst, v, p.Type == TypeDate)
		dst = append(dst, '\'')
	case time.Duration:
		dst = append(dst, '\'')
		dst = appendDuration(dst, v)
		dst = append(dst, '\'')
	default:
		return append(dst, '?')
	}
	if p.Truncated {
		dst = append(dst, " /* truncated, "...)
		dst = strconv.AppendInt(dst, int64(p.Length), 10)
		dst = append(dst, " bytes */"...)
	}
	return dst
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		dst = append(dst, '\'')
		dst = strconv.AppendFloat(dst, f, 'g', -1, bits)
		return append(dst, '\'')
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

// appendStringLiteral renders a string value: decimal text bare, binary
// types and unprintable bytes in hex, the rest quoted.
func appendStringLiteral(dst []byte, v string, typ FieldType) []byte {
	switch typ {
	case TypeDecimal, TypeNewDecimal:
		if isDecimalText(v) {
			return append(dst, v...)
		}
	case TypeBit, TypeGeometry, TypeVector:
		return appendHexLiteral(dst, v)
	}
	if !isPrintable(v) {
		return appendHexLiteral(dst, v)
	}
	dst = append(dst, '\'')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\'':
			dst = append(dst, '\'', '\'')
		case '\\':
			dst = append(dst, '\\', '\\')
		case 0:
			dst = append(dst, '\\', '0')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case 0x1A:
			dst = append(dst, '\\', 'Z')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '\'')
}

// isPrintable reports whether v is valid UTF-8 without control characters
// other than those appendStringLiteral escapes.
func isPrintable(v string) bool {
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != 0 && c != '\n' && c != '\r' && c != '\t' && c != '\b' && c != 0x1A) || c == 0x7F {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		i += n
	}
	return true
}

// isDecimalText reports whether v is a plain decimal number: an optional
// sign, digits with at most one point, an optional exponent.
func isDecimalText(v string) bool {
	i := 0
	if i < len(v) && (v[i] == '-' || v[i] == '+') {
		i++
	}
	digits, point := 0, false
	for ; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point:
			point = true
		default:
			if digits == 0 || (c != 'e' && c != 'E') {
				return false
			}
			i++
			if i < len(v) && (v[i] == '-' || v[i] == '+') {
				i++
			}
			exp := 0
			for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
				exp++
			}
			return exp > 0 && i == len(v)
		}
	}
	return digits > 0
}

func appendHexLiteral(dst []byte, v string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, 'X', '\'')
	for i := 0; i < len(v); i++ {
		dst = append(dst, hex[v[i]>>4], hex[v[i]&0x0F])
	}
	return append(dst, '\'')
}

// appendDateTime renders YYYY-MM-DD[ hh:mm:ss[.ffffff][±hh:mm]]; the zero
// Time is MySQL's zero date.
func appendDateTime(dst []byte, t time.Time, dateOnly bool) []byte {
	if t.IsZero() {
		if dateOnly {
			return append(dst, "0000-00-00"...)
		}
		return append(dst, "0000-00-00 00:00:00"...)
	}
	y, mo, d := t.Date()
	dst = appendPadded(dst, y, 4)
	dst = append(dst, '-')
	dst = appendPadded(dst, int(mo), 2)
	dst = append(dst, '-')
	dst = appendPadded(dst, d, 2)
	if dateOnly {
		return dst
	}
	h, mi, s := t.Clock()
	dst = append(dst, ' ')
	dst = appendPadded(dst, h, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, mi, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, s, 2)
	if us := t.Nanosecond() / 1000; us != 0 {
		dst = append(dst, '.')
		dst = appendPadded(dst, us, 6)
	}
	if t.Location() != time.UTC {
		_, off := t.Zone()
		sign := byte('+')
		if off < 0 {
			sign, off = '-', -off
		}
		dst = append(dst, sign)
		dst = appendPadded(dst, off/3600, 2)
		dst = append(dst, ':')
		dst = appendPadded(dst, off/60%60, 2)
	}
	return dst
}

// appendDuration renders a TIME value: [-]h:mm:ss[.ffffff], hours not
// wrapped at 24.
func appendDuration(dst []byte, d time.Duration) []byte {
	u := uint64(d)
	if d < 0 {
		dst = append(dst, '-')
		u = -u
	}
	us := u / 1000 % 1e6
	s := u / 1e9
	dst = appendPadded(dst, int(s/3600), 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, int(s/60%60), 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, int(s%60), 2)
	if us != 0 {
		dst = append(dst, '.')
		dst = appendPadded(dst, int(us), 6)
	}
	return dst
}

// appendPadded appends a non-negative n with at least width digits.
func appendPadded(dst []byte, n, width int) []byte {
	var buf [20]byte
	b := strconv.AppendInt(buf[:0], int64(n), 10)
	for i := len(b); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, b...)
}
