package fingerprint_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/fingerprint"
)

func TestFingerprintDigest(t *testing.T) {
	f := fingerprint.New(fingerprint.DefaultConfig())
	a := f.Fingerprint("SELECT * FROM t WHERE id = 1")
	b := f.Fingerprint("select *\n  from `t` where id=-42 -- x")
	c := f.Fingerprint("SELECT * FROM t WHERE id = 1 AND x = 2")
	assert.Equal(t, "select * from t where id = ?", a.Text)
	assert.Equal(t, a.Digest, b.Digest)
	assert.Equal(t, a.Text, b.Text)
	assert.NotEqual(t, a.Values, b.Values, "other literal values")
	assert.NotEqual(t, a.Digest, c.Digest)
	assert.False(t, a.Truncated)
	assert.Nil(t, a.Tags)

	// The digest is xxhash64 of the rule version and the text.
	assert.Equal(t, fingerprint.Digest(xxhash.Sum64String(fingerprint.RuleVersion+a.Text)), a.Digest)
	// Pinned: a digest must not change unless RuleVersion does.
	assert.Equal(t, "1ee62de28ce9851e", f.Fingerprint("select 1").Digest.String())

	assert.Equal(t, a, f.FingerprintBytes([]byte("SELECT * FROM t WHERE id = 1")))
}

func TestFingerprintTags(t *testing.T) {
	f := fingerprint.New(fingerprint.DefaultConfig())
	fp := f.Fingerprint("SELECT * FROM users WHERE id = 7 " +
		"/*action='show',controller='users',route='%2Fusers%2F%3Aid',traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/")
	assert.Equal(t, "select * from users where id = ?", fp.Text)
	assert.Equal(t, []fingerprint.Tag{
		{Key: "action", Value: "show"},
		{Key: "controller", Value: "users"},
		{Key: "route", Value: "/users/:id"},
		{Key: "traceparent", Value: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	}, fp.Tags)
	// Tags never enter the digest.
	assert.Equal(t, f.Fingerprint("SELECT * FROM users WHERE id = 8").Digest, fp.Digest)

	// The tags slice belongs to the caller: the next call does not reuse it.
	first := fp.Tags
	f.Fingerprint("select 1 /*a='b'*/")
	assert.Equal(t, "action", first[0].Key)
}

func TestSQLCommenterParsing(t *testing.T) {
	for _, tc := range []struct {
		name, comment string
		want          []fingerprint.Tag
	}{
		{"single", `/*k='v'*/`, []fingerprint.Tag{{"k", "v"}}},
		{"spaces", `/* a='1' , b='2' */`, []fingerprint.Tag{{"a", "1"}, {"b", "2"}}},
		{"escaped quote", `/*k='it\'s'*/`, []fingerprint.Tag{{"k", "it's"}}},
		{"url encoded key and value", `/*db%20driver='go%2Fsql%20x'*/`, []fingerprint.Tag{{"db driver", "go/sql x"}}},
		{"bad percent kept", `/*k='100%'*/`, []fingerprint.Tag{{"k", "100%"}}},
		{"plus stays plus", `/*k='a+b'*/`, []fingerprint.Tag{{"k", "a+b"}}},
		{"empty value", `/*k=''*/`, []fingerprint.Tag{{"k", ""}}},
		{"comma in value", `/*k='a,b',j='c'*/`, []fingerprint.Tag{{"k", "a,b"}, {"j", "c"}}},
		{"two comments", `/*a='1'*/ /*b='2'*/`, []fingerprint.Tag{{"a", "1"}, {"b", "2"}}},
		{"free text", `/* just a comment */`, nil},
		{"unquoted value", `/*k=v*/`, nil},
		{"double quotes", `/*k="v"*/`, nil},
		{"trailing comma", `/*k='v',*/`, nil},
		{"garbage after", `/*k='v' x*/`, nil},
		{"unterminated value", `/*k='v*/`, nil},
		{"empty key", `/*='v'*/`, nil},
		{"empty comment", `/**/`, nil},
		{"hint is not a comment", `/*+ k='v' */`, nil},
		{"executable is not a comment", `/*!50000 k='v' */`, nil},
		{"line comment is not sqlcommenter", "-- k='v'\n", nil},
		{"unterminated comment", `/*k='v'`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := fingerprint.New(fingerprint.DefaultConfig()).Fingerprint("select 1 " + tc.comment)
			assert.Equal(t, tc.want, fp.Tags)
		})
	}
}

func TestFingerprintMaxText(t *testing.T) {
	f := fingerprint.New(fingerprint.Config{MaxText: 20})
	sql := "select aaaa, bbbb, cccc, dddd from t where x = 1"
	fp := f.Fingerprint(sql)
	full := string(fingerprint.Normalize(nil, []byte(sql)))
	assert.Equal(t, "select aaaa, bbbb,", fp.Text) // cut at the last blank within 20 bytes
	assert.True(t, fp.Truncated)
	// The digest covers the whole text, not the cut one.
	assert.Equal(t, fingerprint.Digest(xxhash.Sum64String(fingerprint.RuleVersion+full)), fp.Digest)
	assert.NotEqual(t, f.Fingerprint("select aaaa, bbbb, cccc, eeee from t").Digest, fp.Digest)

	// Exactly at the limit is not truncated.
	fp = fingerprint.New(fingerprint.Config{MaxText: len(full)}).Fingerprint(sql)
	assert.Equal(t, full, fp.Text)
	assert.False(t, fp.Truncated)

	// No blank at all: cut on a UTF-8 boundary.
	fp = fingerprint.New(fingerprint.Config{MaxText: 6}).Fingerprint("select `ééééé`")
	assert.Equal(t, "select", fp.Text)
	fp = fingerprint.New(fingerprint.Config{MaxText: 4}).Fingerprint("ééééé")
	assert.Equal(t, "éé", fp.Text)
	fp = fingerprint.New(fingerprint.Config{MaxText: 5}).Fingerprint("ééééé")
	assert.Equal(t, "éé", fp.Text)
}

func TestFingerprintMaxInput(t *testing.T) {
	f := fingerprint.New(fingerprint.Config{MaxInput: 30})
	fp := f.Fingerprint("select a from t where b = 'a long string that is cut' and c = 1")
	assert.True(t, fp.Truncated)
	assert.Equal(t, "select a from t where b = ?", fp.Text)

	fp = f.Fingerprint("select 1")
	assert.False(t, fp.Truncated)
}

func TestConfig(t *testing.T) {
	assert.Equal(t, fingerprint.Config{MaxInput: 1 << 20, MaxText: 2048}, fingerprint.DefaultConfig())
	require.NoError(t, fingerprint.DefaultConfig().Validate())
	require.NoError(t, fingerprint.Config{}.Validate())
	require.Error(t, fingerprint.Config{MaxInput: -1}.Validate())
	require.Error(t, fingerprint.Config{MaxText: -1}.Validate())

	// Zero values take the defaults.
	long := "select " + strings.Repeat("a, ", 1000) + "b"
	fp := fingerprint.New(fingerprint.Config{}).Fingerprint(long)
	assert.True(t, fp.Truncated)
	assert.LessOrEqual(t, len(fp.Text), fingerprint.DefaultMaxText)
}

func TestDigestString(t *testing.T) {
	assert.Equal(t, "0000000000000000", fingerprint.Digest(0).String())
	assert.Equal(t, "000000000000002a", fingerprint.Digest(42).String())
	assert.Equal(t, "ffffffffffffffff", fingerprint.Digest(^uint64(0)).String())

	d, err := fingerprint.ParseDigest("0123456789ABCDEF")
	require.NoError(t, err)
	assert.Equal(t, fingerprint.Digest(0x0123456789abcdef), d)

	for _, bad := range []string{"", "123", "0x23456789abcdef", "0123456789abcdeg", "0123456789abcdef0", " 123456789abcdef"} {
		_, err := fingerprint.ParseDigest(bad)
		require.Error(t, err, bad)
		assert.True(t, errors.Is(err, fingerprint.ErrInvalidDigest), bad)
	}
	_, err = fingerprint.ParseDigest("xyz")
	assert.EqualError(t, err, `parse digest "xyz": invalid digest: want 16 hex digits, got 3 bytes`)
}

func TestDigestJSON(t *testing.T) {
	type row struct {
		Digest fingerprint.Digest `json:"digest"`
	}
	b, err := json.Marshal(row{Digest: 0xabc})
	require.NoError(t, err)
	assert.JSONEq(t, `{"digest":"0000000000000abc"}`, string(b))
	var r row
	require.NoError(t, json.Unmarshal(b, &r))
	assert.Equal(t, fingerprint.Digest(0xabc), r.Digest)
	require.Error(t, json.Unmarshal([]byte(`{"digest":"nope"}`), &r))
}
