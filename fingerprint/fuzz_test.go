package fingerprint_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/querylens/querylens/fingerprint"
)

// fuzzSeeds are the traps of the rules, kept in code so every `go test` runs
// them. The golden corpus is added on top.
var fuzzSeeds = []string{
	"",
	"select 1",
	"SELECT * FROM t WHERE id = -1 AND b = 'x' OR c IN (1,2,3)",
	"insert into t values (1,'a'),(2,'b'),(3,NOW())",
	"select a-1, a - -1, - - 1, -a from t",
	"select 'unterminated",
	"select \"a\\\"b\" , 'it''s'",
	"select /* unterminated",
	"select /*! 1 */ /*!50000 2 */ /*M!100100 3 */ /*+ hint */ 4",
	"select /*!50000 'never closed",
	"select `a``b`, `order`, `unterminated",
	"select 1 -- c\n, 2 #x\n",
	"select a--1",
	"select X'0f', x'', 0x1f, 0x1g, B'01', 0b01, 0b2, N'x', _utf8mb4'x', _binary 0x1f",
	"select 1.5e-3, .5, 1., 1e, 1e+, 1.5e, 1abc, t.1, t.5x, a . 5, 1 . 5abc",
	"select a. . .b, a...b, (...), ( ... ), t.* , a. ...",
	"select * from t order by 1, 2 desc, a + 1, 3 limit 1, 2",
	"select * from t order by 1 _utf8mb4'x', 2 null, 3 x'00'",
	"select (a, b) in ((1, 2), (3, 4)), f((1), (1)), ((1), (2))",
	"select count(*), f(g(1)), coalesce(now(), 1)",
	"select @a, @@session.x, @'q', @`b`, @, @@, @'unterminated",
	"set @x := -1; use db; call p(1); select 1;;",
	"select 1; ; select 2;",
	"select `value`(1), value (1), insert into t value (1), (1)",
	"select\x00\x01\xff\xfe from caf\xe9",
	"((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))",
	"select ) ) ( (",
	"select - (1), + ?, -?, - ...",
	"select 1 */ 2 /*! 3 */ */",
	"select /*!12345678 a */",
	"/*key='v',k2='a%20b'*/ select 1",
	"select a from t where b = 1 /*!50000 order by 1 */",
	"select a.`b`.c, `a`.`select`, t.`1`",
	"select {d '2024-01-01'}, a->'$.x', a->>'$.y', a<=>b, a:=b, a||b, a&&b",
}

func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "normalize", "*.txt"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		sql, _, _ := bytes.Cut(data, []byte(separator))
		f.Add(string(sql))
	}
}

const (
	leakString = "zq8xLEAKq"
	leakNumber = "98765432123"
)

// FuzzNormalize checks that Normalize never panics, is idempotent, stays
// within its size bound, agrees with Fingerprinter, and lets no literal
// through: a distinctive string literal in front of the input and a
// distinctive number behind it never show up in the output.
func FuzzNormalize(f *testing.F) {
	addSeeds(f)
	fp := fingerprint.New(fingerprint.Config{MaxText: 1 << 30})
	f.Fuzz(func(t *testing.T, sql string) {
		out := fingerprint.Normalize(nil, []byte(sql))
		if len(out) > 2*len(sql)+8 {
			t.Fatalf("output %d bytes for %d input bytes", len(out), len(sql))
		}
		again := fingerprint.Normalize(nil, out)
		if !bytes.Equal(out, again) {
			t.Fatalf("not idempotent:\n in: %q\n 1st: %q\n 2nd: %q", sql, out, again)
		}
		if got := fp.Fingerprint(sql); got.Text != string(out) {
			t.Fatalf("Fingerprint text %q != Normalize %q", got.Text, out)
		}

		lowerSQL := strings.ToLower(sql)
		if !strings.Contains(lowerSQL, strings.ToLower(leakString)) && !strings.Contains(sql, leakNumber) {
			// The prefix is tokenized before the fuzz input can influence it;
			// a number after it is a literal in every lexer state except the
			// ones that swallow it (open string, comment, quoted name).
			probe := "select '" + leakString + "', " + leakNumber + ", " + sql + " = " + leakNumber + " "
			got := strings.ToLower(string(fingerprint.Normalize(nil, []byte(probe))))
			if strings.Contains(got, strings.ToLower(leakString)) || strings.Contains(got, leakNumber) {
				t.Fatalf("literal leaked:\n in: %q\n out: %q", probe, got)
			}
		}
	})
}

// FuzzParseDigest checks that String and ParseDigest round-trip and that
// ParseDigest accepts exactly the 16-hex-digit spellings.
func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{"", "0000000000000000", "ffffffffffffffff", "FFFFFFFFFFFFFFFF",
		"0123456789abcdef", "0x23456789abcdef", "123456789abcdef", "0123456789abcdef0",
		" 123456789abcdef", "-123456789abcdef", "g123456789abcdef", "012345678\xff9abcde"} {
		f.Add(s, uint64(0x0123456789abcdef))
	}
	f.Fuzz(func(t *testing.T, s string, v uint64) {
		d := fingerprint.Digest(v)
		back, err := fingerprint.ParseDigest(d.String())
		if err != nil || back != d {
			t.Fatalf("round trip of %d via %q: %v, %v", v, d.String(), back, err)
		}
		if len(d.String()) != 16 {
			t.Fatalf("String() = %q", d.String())
		}

		p, err := fingerprint.ParseDigest(s)
		valid := len(s) == 16 && strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
		if valid != (err == nil) {
			t.Fatalf("ParseDigest(%q) error %v, want valid=%v", s, err, valid)
		}
		if err == nil && p.String() != strings.ToLower(s) {
			t.Fatalf("ParseDigest(%q).String() = %q", s, p.String())
		}
	})
}
