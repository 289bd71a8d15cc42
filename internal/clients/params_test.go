package clients

import (
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/proxy"
)

// executed is what the test keeps of one COM_STMT_EXECUTE event.
type executed struct {
	SQL         string
	Params      []protocol.Param
	ParamCount  int
	Undecodable bool
	ErrorCode   uint16
	Attributes  []protocol.Attr
}

// executeTee passes every event on to the engine after copying what the
// test needs of each COM_STMT_EXECUTE: once Observe returns, the event
// belongs to the engine.
type executeTee struct {
	next proxy.Sink

	mu    sync.Mutex
	execs []executed
}

var _ proxy.Sink = (*executeTee)(nil)

func (e *executeTee) Observe(ev *protocol.Event) {
	if ev.Command == protocol.ComStmtExecute {
		rec := executed{SQL: strings.Clone(ev.SQL), ParamCount: ev.ParamCount,
			Undecodable: ev.ParamsUndecodable, ErrorCode: ev.ErrorCode}
		for _, a := range ev.QueryAttributes {
			rec.Attributes = append(rec.Attributes, protocol.Attr{Key: strings.Clone(a.Key), Value: strings.Clone(a.Value)})
		}
		for _, p := range ev.Params {
			if s, ok := p.Value.(string); ok {
				p.Value = strings.Clone(s)
			}
			p.Name = strings.Clone(p.Name)
			rec.Params = append(rec.Params, p)
		}
		e.mu.Lock()
		e.execs = append(e.execs, rec)
		e.mu.Unlock()
	}
	e.next.Observe(ev)
}

// executes returns the executions seen so far, in the order the decoder
// finished them.
func (e *executeTee) executes() []executed {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]executed(nil), e.execs...)
}

// startQuerylensTee starts a querylens in front of upstream (as
// startQuerylens) whose COM_STMT_EXECUTE events are also recorded.
func startQuerylensTee(t *testing.T, upstream string) (*querylens, *executeTee) {
	t.Helper()
	tee := &executeTee{}
	q := startQuerylensSink(t, upstream, func(next proxy.Sink) proxy.Sink {
		tee.next = next
		return tee
	})
	return q, tee
}

// gotParam is the part of a decoded parameter the checks compare.
type gotParam struct {
	Type     protocol.FieldType
	Unsigned bool
	Null     bool
	Value    any
}

func (g gotParam) String() string {
	return fmt.Sprintf("%s unsigned=%v null=%v %T(%#v)", g.Type, g.Unsigned, g.Null, g.Value, g.Value)
}

func paramOf(p protocol.Param) gotParam {
	return gotParam{Type: p.Type, Unsigned: p.Unsigned, Null: p.Null, Value: p.Value}
}

// TestGoSQLDriverParams binds one value of each Go type go-sql-driver
// sends as a binary parameter (interpolateParams=false) and checks that
// querylens decoded exactly what the driver encoded. go-sql-driver puts
// int64 in LONGLONG, uint64 in LONGLONG with the unsigned flag, float64 in
// DOUBLE, bool in TINY, and []byte, string and time.Time (formatted in the
// connection's loc, UTC here) in STRING; nil and a nil []byte are NULL.
func TestGoSQLDriverParams(t *testing.T) {
	s := requireServer(t)
	const schema = "cl_params_go"
	s.resetSchema(t, schema)
	ql, tee := startQuerylensTee(t, s.Addr)

	str := func(v string) gotParam { return gotParam{Type: protocol.TypeString, Value: v} }
	null := gotParam{Type: protocol.TypeNull, Null: true}
	cases := []struct {
		name string
		arg  any
		want gotParam
	}{
		{"int64 min", int64(math.MinInt64), gotParam{Type: protocol.TypeLongLong, Value: int64(math.MinInt64)}},
		{"int64 max", int64(math.MaxInt64), gotParam{Type: protocol.TypeLongLong, Value: int64(math.MaxInt64)}},
		{"int64 negative", int64(-7), gotParam{Type: protocol.TypeLongLong, Value: int64(-7)}},
		{"int converted to int64", 42, gotParam{Type: protocol.TypeLongLong, Value: int64(42)}},
		{"uint64 max", uint64(math.MaxUint64), gotParam{Type: protocol.TypeLongLong, Unsigned: true, Value: uint64(math.MaxUint64)}},
		{"uint64 zero", uint64(0), gotParam{Type: protocol.TypeLongLong, Unsigned: true, Value: uint64(0)}},
		{"float64 pi", math.Pi, gotParam{Type: protocol.TypeDouble, Value: math.Pi}},
		{"float64 tiny negative", -2.5e-300, gotParam{Type: protocol.TypeDouble, Value: -2.5e-300}},
		{"float64 max", math.MaxFloat64, gotParam{Type: protocol.TypeDouble, Value: math.MaxFloat64}},
		{"bytes with 0x00 and 0xff", []byte{0x00, 0x01, 0xfe, 0xff, 0x00}, str("\x00\x01\xfe\xff\x00")},
		{"empty bytes", []byte{}, str("")},
		{"nil bytes", []byte(nil), null},
		{"string", "héllo ✓ it's", str("héllo ✓ it's")},
		{"empty string", "", str("")},
		{"time with microseconds", time.Date(2024, 2, 29, 12, 34, 56, 123456000, time.UTC), str("2024-02-29 12:34:56.123456")},
		{"time with milliseconds", time.Date(1999, 12, 31, 23, 59, 59, 500000000, time.UTC), str("1999-12-31 23:59:59.5")},
		{"midnight", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), str("2024-02-29")},
		{"time in another zone", time.Date(2024, 6, 1, 12, 0, 0, 0, time.FixedZone("X", 5*3600+1800)), str("2024-06-01 06:30:00")},
		{"nil", nil, null},
		{"true", true, gotParam{Type: protocol.TypeTiny, Value: int64(1)}},
		{"false", false, gotParam{Type: protocol.TypeTiny, Value: int64(0)}},
	}

	db, err := sql.Open("mysql", s.preparedDSN(t, ql.Addr, schema))
	require.NoError(t, err)
	args := make([]any, len(cases))
	marks := make([]string, len(cases))
	for i, c := range cases {
		args[i], marks[i] = c.arg, "?"
	}
	query := "SELECT " + strings.Join(marks, ", ")
	rows, err := db.Query(query, args...)
	require.NoError(t, err)
	for rows.Next() {
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	// And one parameter per statement, so that each value is also the
	// only one of its packet.
	for _, c := range cases {
		var v any
		require.NoError(t, db.QueryRow("SELECT ?", c.arg).Scan(&v), c.name)
	}
	require.NoError(t, db.Close())
	ql.snapshot(t)

	execs := tee.executes()
	require.Len(t, execs, 1+len(cases), "COM_STMT_EXECUTEs seen")
	all := execs[0]
	assert.Equal(t, query, all.SQL)
	assert.Zero(t, all.ErrorCode)
	require.False(t, all.Undecodable, "parameters not decodable")
	require.Equal(t, len(cases), all.ParamCount)
	require.Len(t, all.Params, len(cases))
	for i, c := range cases {
		got := paramOf(all.Params[i])
		assert.Equal(t, c.want, got, "%s (parameter %d of %d): want %s, got %s", c.name, i+1, len(cases), c.want, got)
		one := execs[1+i]
		if assert.Len(t, one.Params, 1, c.name) && assert.False(t, one.Undecodable, c.name) {
			assert.Equal(t, c.want, paramOf(one.Params[0]), "%s alone", c.name)
		}
	}
}

// nodeExecution is what params.js printed for one execute().
type nodeExecution struct {
	Name   string      `json:"name"`
	SQL    string      `json:"sql"`
	Params []nodeParam `json:"params"`
	// Attributes are query attributes sent with the execution (strings).
	Attributes map[string]string `json:"attributes"`
	Error      *struct {
		Code    string `json:"code"`
		Errno   int    `json:"errno"`
		Message string `json:"message"`
	} `json:"error"`
}

// nodeParam is one value params.js bound: its JavaScript type (or "typed"
// for a mysql2 TypedParameter, with the declared type, its unsigned flag
// and the JavaScript type of the wrapped value in Of) and its text form.
type nodeParam struct {
	JS       string  `json:"js"`
	V        *string `json:"v"`
	Type     string  `json:"type"`
	Unsigned bool    `json:"unsigned"`
	Of       string  `json:"of"`
}

func (p nodeParam) String() string {
	v := "null"
	if p.V != nil {
		v = strconv.Quote(*p.V)
	}
	if p.JS == "typed" {
		return fmt.Sprintf("%s(unsigned=%v, %s %s)", p.Type, p.Unsigned, p.Of, v)
	}
	return p.JS + " " + v
}

// TestNodeMySQL2Params runs params.js (mysql2 execute() with every
// parameter type) through querylens against MariaDB and checks each
// decoded parameter against the value the script bound.
func TestNodeMySQL2Params(t *testing.T) {
	node, dir := needMySQL2(t)
	s := requireServer(t)
	const schema = "cl_params_node"
	s.resetSchema(t, schema)
	ql, tee := startQuerylensTee(t, s.Addr)
	bound := runParamsJS(t, node, dir, ql.Addr, testdb.User, testdb.Password, schema)
	ql.snapshot(t)
	checkNodeParams(t, bound, tee.executes(), false, false, nil)
}

// needMySQL2 returns node and the directory of the mysql2 scripts, or
// skips (fails under CI=true) when they are not installed.
func needMySQL2(t *testing.T) (string, string) {
	t.Helper()
	node := needTool(t, "node", nodeHint)
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "mysql2", "package.json")); err != nil {
		missing(t, "mysql2 is not installed; run: npm ci --prefix internal/clients/testdata/node")
	}
	return node, dir
}

// runParamsJS runs params.js against addr and returns what it bound.
func runParamsJS(t *testing.T, node, dir, addr, user, password, schema string) []nodeExecution {
	t.Helper()
	host, port := hostPort(t, addr)
	out := runClient(t, 2*time.Minute, nil, []string{"QL_HOST=" + host, "QL_PORT=" + port,
		"QL_USER=" + user, "QL_PASSWORD=" + password, "QL_DB=" + schema},
		node, filepath.Join(dir, "params.js"))
	require.Equal(t, 0, out.Code, "params.js: %s", out)
	require.Less(t, out.Len, int64(headBytes), "params.js printed more than the test keeps")
	var bound []nodeExecution
	require.NoError(t, json.Unmarshal([]byte(out.Head), &bound), "params.js output: %s", out.Head)
	require.NotEmpty(t, bound)
	return bound
}

// checkNodeParams pairs the script's executions with the decoded ones, in
// order (one connection), and compares every parameter. jsonType tells
// whether mysql2 sends JSON values with the JSON type (MySQL) or as
// VAR_STRING (MariaDB, which rejects the JSON type); attrs whether the
// connection negotiated CLIENT_QUERY_ATTRIBUTES, so that the attributes
// the script passed were sent (after the parameters, which they must not
// disturb). refused names the executions the server is known to refuse,
// with the reason; their parameters are checked all the same.
func checkNodeParams(t *testing.T, bound []nodeExecution, execs []executed, jsonType, attrs bool, refused map[string]string) {
	t.Helper()
	require.Len(t, execs, len(bound), "COM_STMT_EXECUTEs seen vs execute() calls")
	checked := 0
	for i, b := range bound {
		e := execs[i]
		switch why, known := refused[b.Name]; {
		case b.Error != nil && known:
			t.Logf("%s: the server refused the execution (%s): %+v", b.Name, why, *b.Error)
		case b.Error != nil:
			t.Errorf("%s: the server refused the execution: %+v", b.Name, *b.Error)
		}
		assert.Equal(t, b.SQL, e.SQL, b.Name)
		var wantAttrs map[string]string
		if attrs && len(b.Attributes) > 0 {
			wantAttrs = b.Attributes
		}
		var gotAttrs map[string]string
		for _, a := range e.Attributes {
			if gotAttrs == nil {
				gotAttrs = map[string]string{}
			}
			gotAttrs[a.Key] = a.Value
		}
		assert.Equal(t, wantAttrs, gotAttrs, "%s: query attributes", b.Name)
		if !assert.False(t, e.Undecodable, "%s: parameters not decodable", b.Name) ||
			!assert.Len(t, e.Params, len(b.Params), b.Name) {
			continue
		}
		assert.Equal(t, len(b.Params), e.ParamCount, b.Name)
		var types []string
		for j, bp := range b.Params {
			p := e.Params[j]
			types = append(types, p.Type.String())
			if msg := nodeParamMismatch(bp, p, jsonType); msg != "" {
				t.Errorf("%s, parameter %d: bound %s; decoded %s (literal %s): %s", b.Name, j+1, bp, paramOf(p), p, msg)
			} else {
				checked++
			}
		}
		t.Logf("%s: wire types %s", b.Name, strings.Join(types, ", "))
	}
	t.Logf("%d parameters in %d executions decoded as bound", checked, len(bound))
}

// integerTypes are mysql2's names of the integer types and their wire
// types (mysql2 sends INT24 as LONG and YEAR as SHORT).
var integerTypes = map[string]protocol.FieldType{
	"TINY": protocol.TypeTiny, "SHORT": protocol.TypeShort, "LONG": protocol.TypeLong,
	"LONGLONG": protocol.TypeLongLong, "INT24": protocol.TypeLong, "YEAR": protocol.TypeShort,
}

// otherTypes are mysql2's names of the other types params.js declares.
var otherTypes = map[string]protocol.FieldType{
	"FLOAT": protocol.TypeFloat, "DOUBLE": protocol.TypeDouble, "DECIMAL": protocol.TypeDecimal,
	"NEWDECIMAL": protocol.TypeNewDecimal, "DATE": protocol.TypeDate, "DATETIME": protocol.TypeDatetime,
	"TIMESTAMP": protocol.TypeTimestamp, "TIME": protocol.TypeTime, "JSON": protocol.TypeJSON,
	"VAR_STRING": protocol.TypeVarString, "BLOB": protocol.TypeBlob,
}

// nodeParamMismatch returns "" when p is the value b describes, encoded as
// mysql2 encodes it, or what differs.
//
// mysql2 (3.x) picks a wire type from the JavaScript value: number →
// DOUBLE, boolean → TINY, bigint and string → VAR_STRING, Buffer → BLOB,
// Date → DATETIME (fields in the connection's timezone, UTC here, with the
// milliseconds as microseconds), plain objects and arrays → JSON text,
// typed JSON on MySQL and VAR_STRING on MariaDB, null → NULL. When the
// server described the placeholder as an integer column, an integral
// number, bigint or boolean that fits goes as that integer type instead.
// A TypedParameter goes as its declared type.
func nodeParamMismatch(b nodeParam, p protocol.Param, jsonType bool) string {
	if b.V == nil {
		want := protocol.TypeNull
		if b.JS == "typed" {
			want = wireType(b.Type, jsonType)
		}
		if !p.Null || p.Value != nil || p.Type != want {
			return fmt.Sprintf("want NULL typed %s", want)
		}
		return ""
	}
	v := *b.V
	switch b.JS {
	case "typed":
		return typedMismatch(b, v, p, jsonType)
	case "number":
		if p.Type == protocol.TypeDouble {
			return floatMismatch(v, p.Value, 64)
		}
		return integerMismatch(v, p)
	case "bigint":
		if p.Type == protocol.TypeVarString {
			return stringMismatch(v, p)
		}
		return integerMismatch(v, p)
	case "boolean":
		n := map[string]string{"true": "1", "false": "0"}[v]
		return integerMismatch(n, p)
	case "string":
		return typeAndString(protocol.TypeVarString, v, p)
	case "buffer":
		raw, err := hex.DecodeString(v)
		if err != nil {
			return "bad hex from the script: " + err.Error()
		}
		return typeAndString(protocol.TypeBlob, string(raw), p)
	case "date":
		return timeMismatch(protocol.TypeDatetime, v, p)
	case "json":
		return typeAndString(wireType("JSON", jsonType), v, p)
	}
	return "unknown JavaScript type " + b.JS
}

// wireType is the type mysql2 sends for a declared type name.
func wireType(name string, jsonType bool) protocol.FieldType {
	if t, ok := integerTypes[name]; ok {
		return t
	}
	if name == "JSON" && !jsonType {
		return protocol.TypeVarString
	}
	if t, ok := otherTypes[name]; ok {
		return t
	}
	return 0xFF
}

func typedMismatch(b nodeParam, v string, p protocol.Param, jsonType bool) string {
	want := wireType(b.Type, jsonType)
	if p.Type != want || p.Unsigned != b.Unsigned {
		return fmt.Sprintf("want type %s unsigned=%v", want, b.Unsigned)
	}
	switch want {
	case protocol.TypeTiny, protocol.TypeShort, protocol.TypeLong, protocol.TypeLongLong:
		return integerMismatch(v, p)
	case protocol.TypeFloat:
		return floatMismatch(v, p.Value, 32)
	case protocol.TypeDouble:
		return floatMismatch(v, p.Value, 64)
	case protocol.TypeDate, protocol.TypeDatetime, protocol.TypeTimestamp:
		return timeMismatch(want, v, p)
	case protocol.TypeTime:
		d, err := parseTimeValue(v)
		if err != nil {
			return err.Error()
		}
		if got, ok := p.Value.(time.Duration); !ok || got != d {
			return fmt.Sprintf("want time.Duration %v", d)
		}
		return ""
	}
	return stringMismatch(v, p)
}

// integerMismatch compares an integer parameter with decimal text.
func integerMismatch(v string, p protocol.Param) string {
	var got string
	switch x := p.Value.(type) {
	case int64:
		if p.Unsigned {
			return "unsigned integer decoded as int64"
		}
		got = strconv.FormatInt(x, 10)
	case uint64:
		if !p.Unsigned {
			return "signed integer decoded as uint64"
		}
		got = strconv.FormatUint(x, 10)
	default:
		return fmt.Sprintf("want an integer %s, wire type %s", v, p.Type)
	}
	switch p.Type {
	case protocol.TypeTiny, protocol.TypeShort, protocol.TypeLong, protocol.TypeLongLong:
	default:
		return "integer value with non-integer type " + p.Type.String()
	}
	if got != v {
		return "want " + v
	}
	return ""
}

func floatMismatch(v string, got any, bits int) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return "bad number from the script: " + err.Error()
	}
	switch bits {
	case 32:
		if g, ok := got.(float32); !ok || g != float32(f) {
			return fmt.Sprintf("want float32 %v", float32(f))
		}
	default:
		if g, ok := got.(float64); !ok || g != f {
			return fmt.Sprintf("want float64 %v", f)
		}
	}
	return ""
}

func stringMismatch(v string, p protocol.Param) string {
	got, ok := p.Value.(string)
	switch {
	case !ok:
		return fmt.Sprintf("want string %q", v)
	case p.Truncated:
		return "value truncated"
	case got != v:
		return fmt.Sprintf("want %q", v)
	case p.Length != len(v) && p.Type != protocol.TypeDecimal && p.Type != protocol.TypeNewDecimal:
		// Length is documented for string values; DECIMAL text leaves it 0.
		return fmt.Sprintf("declared length %d, want %d", p.Length, len(v))
	}
	return ""
}

func typeAndString(want protocol.FieldType, v string, p protocol.Param) string {
	if p.Type != want || p.Unsigned {
		return "want type " + want.String()
	}
	return stringMismatch(v, p)
}

func timeMismatch(want protocol.FieldType, v string, p protocol.Param) string {
	if p.Type != want {
		return "want type " + want.String()
	}
	ts, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return "bad date from the script: " + err.Error()
	}
	got, ok := p.Value.(time.Time)
	if !ok || !got.Equal(ts) || got.Location() != time.UTC {
		return "want " + ts.UTC().Format("2006-01-02 15:04:05.000000 UTC")
	}
	return ""
}

var timeText = regexp.MustCompile(`^(-)?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?$`)

// parseTimeValue reads a TIME the way params.js wrote it:
// [-]h:mm:ss[.ffffff].
func parseTimeValue(v string) (time.Duration, error) {
	m := timeText.FindStringSubmatch(v)
	if m == nil {
		return 0, fmt.Errorf("bad TIME from the script: %q", v)
	}
	h, _ := strconv.Atoi(m[2])
	mi, _ := strconv.Atoi(m[3])
	s, _ := strconv.Atoi(m[4])
	us := 0
	if m[5] != "" {
		us, _ = strconv.Atoi(m[5] + strings.Repeat("0", 6-len(m[5])))
	}
	d := time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(s)*time.Second + time.Duration(us)*time.Microsecond
	if m[1] != "" {
		d = -d
	}
	return d, nil
}

// TestNodeMySQL2ParamsMySQL9 runs params.js through querylens against
// MySQL 9, where mysql2 negotiates CLIENT_QUERY_ATTRIBUTES (every
// COM_STMT_EXECUTE then carries a parameter count and a name per
// parameter), sends JSON values with the JSON type, and types integral
// numbers bound to integer columns after the server's description of the
// placeholders.
func TestNodeMySQL2ParamsMySQL9(t *testing.T) {
	node, dir := needMySQL2(t)
	my := testdb.StartMySQL9(t)
	ql, tee := startQuerylensTee(t, my.Addr)
	bound := runParamsJS(t, node, dir, ql.Addr, my.User, my.Password, "test")
	ql.snapshot(t)
	// MySQL refuses mysql2's DATE parameters with ER_MALFORMED_PACKET
	// straight, without querylens, too: mysql2 sends the 11-byte form
	// (a zero time of day appended), which MariaDB takes.
	refused := map[string]string{"typed date": "mysql2 sends DATE in the 11-byte form, which MySQL refuses"}
	checkNodeParams(t, bound, tee.executes(), true, true, refused)
}

// TestManyOpenStatements keeps 300 statements prepared on one connection
// and executes them in a shuffled order: the decoder's and the finder's
// statement tables (128 direct-mapped slots in front of a map, shared by
// ids 128 apart) must give every EXECUTE its own statement, its SQL, its
// parameter and its digest.
func TestManyOpenStatements(t *testing.T) {
	s := requireServer(t)
	const schema = "cl_many_stmts"
	s.resetSchema(t, schema)
	ql, tee := startQuerylensTee(t, s.Addr)

	db, err := sql.Open("mysql", s.preparedDSN(t, ql.Addr, schema))
	require.NoError(t, err)
	db.SetMaxOpenConns(1) // one connection holds them all
	const n = 300
	stmts := make([]*sql.Stmt, n)
	texts := make([]string, n)
	for i := range n {
		texts[i] = fmt.Sprintf("SELECT ? + 1 AS c%d", i)
		stmts[i], err = db.Prepare(texts[i])
		require.NoError(t, err)
	}
	order := rand.New(rand.NewPCG(5, 6)).Perm(2 * n)
	for _, k := range order {
		i := k % n
		var got int64
		require.NoError(t, stmts[i].QueryRow(int64(1000+i)).Scan(&got))
		require.Equal(t, int64(1001+i), got)
	}
	for _, st := range stmts {
		require.NoError(t, st.Close())
	}
	require.NoError(t, db.Close())
	snap := ql.snapshot(t)

	execs := tee.executes()
	require.Len(t, execs, 2*n)
	for j, e := range execs {
		i := order[j] % n
		assert.Equal(t, texts[i], e.SQL, "execution %d", j)
		if assert.Len(t, e.Params, 1, "execution %d", j) {
			assert.Equal(t, int64(1000+i), e.Params[0].Value, "execution %d", j)
		}
	}
	counts := map[string]uint64{}
	for _, d := range snap.Digests {
		if d.Schema == schema && strings.HasPrefix(d.Fingerprint, "select ? + ? as c") {
			counts[d.Fingerprint] += d.Count
		}
	}
	assert.Len(t, counts, n, "one digest per statement")
	for fp, c := range counts {
		assert.EqualValues(t, 2, c, "%s: two executions", fp)
	}
}
