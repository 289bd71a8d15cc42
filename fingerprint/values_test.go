package fingerprint_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/querylens/querylens/fingerprint"
)

func TestValuesTellArgumentsApart(t *testing.T) {
	f := fingerprint.New(fingerprint.DefaultConfig())
	v := func(sql string) uint64 { return f.Fingerprint(sql).Values }

	same := [][2]string{
		{"SELECT * FROM t WHERE id = 5", "select *  from t where id=5"},
		{"SELECT * FROM t WHERE id = 5 /*traceparent='00-a-b-01'*/", "SELECT * FROM t WHERE id = 5 /*traceparent='00-c-d-01'*/"},
		{"SELECT * FROM t WHERE name = 'x' -- one", "SELECT * FROM t WHERE name = 'x' -- two"},
		{"SELECT * FROM t WHERE id = ?", "select * from t where id = ?"},
	}
	for _, c := range same {
		assert.Equal(t, v(c[0]), v(c[1]), "%q vs %q", c[0], c[1])
	}
	differ := [][2]string{
		{"SELECT * FROM t WHERE id = 5", "SELECT * FROM t WHERE id = 6"},
		{"SELECT * FROM t WHERE id = 5", "SELECT * FROM t WHERE id = -5"},
		{"SELECT * FROM t WHERE a = 'ab' AND b = 'c'", "SELECT * FROM t WHERE a = 'a' AND b = 'bc'"},
		{"SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (1, 2, 4)"},
		{"SELECT * FROM t WHERE x = X'0f'", "SELECT * FROM t WHERE x = X'0e'"},
	}
	for _, c := range differ {
		a, b := f.Fingerprint(c[0]), f.Fingerprint(c[1])
		assert.Equal(t, a.Digest, b.Digest, "%q and %q should share a digest", c[0], c[1])
		assert.NotEqual(t, a.Values, b.Values, "%q vs %q", c[0], c[1])
	}
}

func TestLiterals(t *testing.T) {
	cases := []struct {
		sql  string
		want []string
	}{
		{"SELECT * FROM feeds WHERE item_id = 42", []string{"42"}},
		{"select a from t where b = -7 and c = 'it''s' limit 10", []string{"-7", "'it''s'", "10"}},
		{"SELECT * FROM t WHERE id IN (1,2) ORDER BY 1", []string{"1", "2"}},
		{"SELECT x'0a', N'n', 1.5e3, TRUE, NULL", []string{"x'0a'", "N'n'", "1.5e3", "TRUE", "NULL"}},
		{"SELECT _utf8mb4'abc' /* 'not this' */", []string{"'abc'"}},
		{"SELECT * FROM t WHERE a = ? AND b = ?", []string{"?", "?"}},
		{"SELECT 1 - 2", []string{"1", "2"}},
		{"", []string{}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, fingerprint.Literals(c.sql, 16), c.sql)
	}
	assert.Len(t, fingerprint.Literals("select 1,2,3,4,5", 3), 3)
}

func TestLiteralHashes(t *testing.T) {
	f := fingerprint.New(fingerprint.DefaultConfig())
	sel := f.Fingerprint("SELECT * FROM items WHERE id = 7")
	upd := f.Fingerprint("UPDATE items SET title = 'a', n = 3 WHERE id = 7")
	other := f.Fingerprint("SELECT * FROM items WHERE id = 8")
	assert.Equal(t, 1, sel.Literals)
	assert.Equal(t, 3, upd.Literals)
	assert.Equal(t, sel.LiteralHashes[0], upd.LiteralHashes[2])
	assert.NotEqual(t, sel.LiteralHashes[0], other.LiteralHashes[0])
	many := f.Fingerprint("select 1,2,3,4,5,6,7,8,9,10")
	assert.Equal(t, 10, many.Literals)
	assert.NotZero(t, many.LiteralHashes[fingerprint.MaxLiteralHashes-1])
}

func TestAppendInterpolated(t *testing.T) {
	vals := []string{"42", "'it''s'", "NULL"}
	param := func(dst []byte, i int) []byte {
		if i < len(vals) {
			return append(dst, vals[i]...)
		}
		return append(dst, '?')
	}
	cases := map[string]string{
		"SELECT * FROM t WHERE id = ?":                                         "SELECT * FROM t WHERE id = 42",
		"SELECT '?', `a?` FROM t /* ? */ WHERE a = ? AND b = ? -- ?\n AND c=?": "SELECT '?', `a?` FROM t /* ? */ WHERE a = 42 AND b = 'it''s' -- ?\n AND c=NULL",
		"INSERT INTO t VALUES (?,?,?,?)":                                       "INSERT INTO t VALUES (42,'it''s',NULL,?)",
		"SELECT 1":                                                             "SELECT 1",
	}
	for in, want := range cases {
		assert.Equal(t, want, string(fingerprint.AppendInterpolated(nil, in, param)), in)
	}
}
