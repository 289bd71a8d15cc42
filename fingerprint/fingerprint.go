package fingerprint

import (
	"bytes"
	"errors"
	"unicode/utf8"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// RuleVersion is hashed in front of every normalized text. It changes
// whenever a normalization rule changes, so digests of different rule sets
// never collide silently.
const RuleVersion = "ql1\x00"

// Defaults for Config.
const (
	DefaultMaxInput = 1 << 20
	DefaultMaxText  = 2048
)

// maxKeptBuffer caps the capacity a Fingerprinter keeps between calls.
const maxKeptBuffer = 64 << 10

// Config limits the work and the memory a Fingerprinter spends on one
// statement. Zero fields take the defaults.
type Config struct {
	// MaxInput is how many bytes of a statement are scanned (default
	// DefaultMaxInput, 1 MiB). The digest covers that prefix only and the
	// fingerprint is marked Truncated.
	MaxInput int
	// MaxText is the longest Fingerprint.Text kept (default DefaultMaxText,
	// 2048). Text is cut at a token boundary; the digest still covers the
	// whole normalized text.
	MaxText int
}

// DefaultConfig returns the default limits.
func DefaultConfig() Config {
	return Config{MaxInput: DefaultMaxInput, MaxText: DefaultMaxText}
}

// Validate reports a negative limit. New treats zero as the default.
func (c Config) Validate() error {
	if c.MaxInput < 0 {
		return errors.New("fingerprint config: max input is negative")
	}
	if c.MaxText < 0 {
		return errors.New("fingerprint config: max text is negative")
	}
	return nil
}

// Fingerprint is what the hot path learns about one statement.
type Fingerprint struct {
	Digest    Digest
	Text      string // normalized text, cut at a token boundary at Config.MaxText bytes
	Truncated bool   // Text was cut or the input exceeded Config.MaxInput
	Tags      []Tag  // sqlcommenter tags found in comments; nil when none

	// Values hashes the literal values in the order they appear (their
	// source text, unary signs included; comments and spacing do not
	// count). Two statements with the same Digest have the same Values
	// exactly when their literals are the same, barring hash collisions: it
	// tells a repeated identical statement from one with other arguments.
	Values uint64
	// LiteralHashes holds the xxhash64 of each of the first
	// MaxLiteralHashes literals' source text, in order; Literals counts
	// all literals. A literal's hash is comparable across statements: the
	// same value written the same way hashes the same.
	LiteralHashes [MaxLiteralHashes]uint64
	Literals      int
}

// MaxLiteralHashes is how many literals Fingerprint.LiteralHashes keeps.
const MaxLiteralHashes = 8

// Fingerprinter normalizes statements into a buffer it reuses between
// calls. It is not safe for concurrent use: keep one per goroutine (for
// example per connection).
type Fingerprinter struct {
	cfg   Config
	buf   []byte
	tags  []Tag
	n     normalizer // kept between calls: it is too big to clear for every statement
	texts [textCacheSize]cachedText
}

// textCacheSize is how many recent Texts a Fingerprinter keeps, by digest:
// an application runs the same few statements over and over, and handing
// out the Text it made last time saves the one allocation a fingerprint
// otherwise costs. At most textCacheSize * Config.MaxText bytes are held.
const textCacheSize = 64

type cachedText struct {
	digest Digest
	text   string
}

// New returns a Fingerprinter with the limits of cfg; zero or negative
// fields take their defaults.
func New(cfg Config) *Fingerprinter {
	if cfg.MaxInput <= 0 {
		cfg.MaxInput = DefaultMaxInput
	}
	if cfg.MaxText <= 0 {
		cfg.MaxText = DefaultMaxText
	}
	return &Fingerprinter{cfg: cfg}
}

// Fingerprint normalizes sql and returns its digest, display text and
// sqlcommenter tags. It allocates nothing for a statement whose text it made
// recently (see textCacheSize), else once, for Text; tags allocate their
// own when there are any. sql is only read, never kept.
func (f *Fingerprinter) Fingerprint(sql string) Fingerprint {
	return f.fingerprint(unsafe.Slice(unsafe.StringData(sql), len(sql)))
}

// FingerprintBytes is Fingerprint for a byte slice, which it does not keep.
func (f *Fingerprinter) FingerprintBytes(sql []byte) Fingerprint {
	return f.fingerprint(sql)
}

func (f *Fingerprinter) fingerprint(sql []byte) Fingerprint {
	var fp Fingerprint
	if len(sql) > f.cfg.MaxInput {
		sql = sql[:f.cfg.MaxInput]
		fp.Truncated = true
	}
	n := &f.n
	n.hashVals, n.vals = true, valueHashes{}
	f.buf = n.run(append(f.buf[:0], RuleVersion...), sql, &f.tags)
	fp.Digest = Digest(xxhash.Sum64(f.buf))
	fp.Values, fp.LiteralHashes, fp.Literals = n.vals.sum, n.vals.lits, n.vals.n
	text := f.buf[len(RuleVersion):]
	if cut := cutText(text, f.cfg.MaxText); cut < len(text) {
		text = text[:cut]
		fp.Truncated = true
	}
	fp.Text = f.textOf(fp.Digest, text)
	if len(f.tags) > 0 {
		fp.Tags = f.tags
		f.tags = nil // handed over to the caller
	}
	if cap(f.buf) > maxKeptBuffer {
		f.buf = nil
	}
	return fp
}

// textOf returns text as a string, the one made for digest last time when
// it is the same.
func (f *Fingerprinter) textOf(digest Digest, text []byte) string {
	c := &f.texts[uint64(digest)%textCacheSize]
	if c.digest == digest && c.text == string(text) {
		return c.text
	}
	c.digest, c.text = digest, string(text)
	return c.text
}

// cutText returns the length of the longest prefix of text that ends at a
// token boundary (a space in the canonical spacing) and is at most max
// bytes. When no space is found it cuts at a UTF-8 boundary.
func cutText(text []byte, max int) int {
	if len(text) <= max {
		return len(text)
	}
	if i := bytes.LastIndexByte(text[:max+1], ' '); i > 0 {
		return i
	}
	i := max
	for i > 0 && !utf8.RuneStart(text[i]) {
		i--
	}
	return i
}

// Literals returns the literal values of sql in the order they appear, as
// source text (a folded unary sign included, strings with their quotes), at
// most max of them. They are the values the normalized text replaces with
// '?', except those inside a collapsed list, which the normalized text
// writes as one "(...)". It allocates; it is meant for examples, not for
// every statement.
func Literals(sql string, max int) []string {
	if len(sql) > DefaultMaxInput {
		sql = sql[:DefaultMaxInput]
	}
	src := unsafe.Slice(unsafe.StringData(sql), len(sql))
	var spans []span
	n := normalizer{lits: &spans}
	n.run(make([]byte, 0, len(sql)+16), src, nil)
	if len(spans) > max {
		spans = spans[:max]
	}
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = sql[s.start:s.end]
	}
	return out
}

// AppendInterpolated appends sql to dst with its i-th '?' placeholder
// (counting only real placeholders: not those inside strings, quoted names
// or comments) replaced by what param appends, for a readable sample of a
// prepared statement's execution. param is called for each placeholder in
// order; to keep one as it is, it appends '?'.
func AppendInterpolated(dst []byte, sql string, param func(dst []byte, i int) []byte) []byte {
	if len(sql) > DefaultMaxInput {
		sql = sql[:DefaultMaxInput]
	}
	src := unsafe.Slice(unsafe.StringData(sql), len(sql))
	var spans []span
	n := normalizer{lits: &spans}
	n.run(make([]byte, 0, len(sql)+16), src, nil)
	last, k := 0, 0
	for _, s := range spans {
		if s.end-s.start != 1 || sql[s.start] != '?' {
			continue
		}
		dst = append(dst, sql[last:s.start]...)
		dst = param(dst, k)
		k++
		last = s.end
	}
	return append(dst, sql[last:]...)
}
