package fingerprint

import "encoding/binary"

// Byte classes used by the tokenizer. One table lookup per byte keeps the
// hot loop free of chained comparisons.
const (
	bSpace    uint8 = iota // ASCII space and every control byte 0x00-0x1f
	bIdent                 // letters, '_', '$' and every byte >= 0x80 (MySQL allows UTF-8 identifiers)
	bDigit                 // '0'-'9'
	bQuote                 // '\'' and '"': string literals (ANSI_QUOTES off, the MySQL default)
	bBacktick              // '`': quoted identifier
	bPunct                 // any other byte: operators and punctuation
)

var byteClass = func() (t [256]uint8) {
	for i := range t {
		c := byte(i)
		switch {
		case c <= ' ':
			t[i] = bSpace
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '$', c >= 0x80:
			t[i] = bIdent
		case c >= '0' && c <= '9':
			t[i] = bDigit
		case c == '\'', c == '"':
			t[i] = bQuote
		case c == '`':
			t[i] = bBacktick
		default:
			t[i] = bPunct
		}
	}
	return t
}()

// lower maps ASCII upper case to lower case and every other byte to itself,
// so non-UTF-8 and multi-byte UTF-8 sequences pass through untouched.
var lower = func() (t [256]byte) {
	for i := range t {
		c := byte(i)
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		t[i] = c
	}
	return t
}()

func isIdentChar(c byte) bool { return identChar[c] }

// identChar tells the bytes that continue an identifier: bIdent and bDigit
// bytes. A table of its own makes the scanning loop one load per byte.
var identChar = func() (t [256]bool) {
	for i, k := range byteClass {
		t[i] = k == bIdent || k == bDigit
	}
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// wordKind is what the tokenizer needs to know about a bare word.
type wordKind uint8

const (
	wordPlain   wordKind = iota // identifier or non-reserved keyword: value-producing, callable
	wordKeyword                 // reserved word from keywordTable: starts an expression, never a call
	wordLiteral                 // NULL, TRUE, FALSE: normalized to '?'
	wordCharset                 // _charset introducer: dropped before a string literal
)

// kwID singles out the few words whose identity (not just kind) matters.
type kwID uint8

const (
	kwNone   kwID = iota
	kwOrder       // ORDER, before BY: ordinals follow
	kwGroup       // GROUP, before BY: ordinals follow
	kwBy          // BY
	kwValues      // VALUES or VALUE: a row list follows
)

// classify tells the kind of a bare word, case-insensitively, without
// allocating.
//
// The keyword set is deliberately small. It holds MySQL reserved words after
// which a value expression starts (so a following sign is unary), plus the
// words the rules themselves need (ORDER/GROUP BY, VALUES). Non-reserved
// keywords that are common column names (value, status, date, offset, ...)
// are plain words, so `value - 1` keeps its binary minus. Words of kind other
// than wordPlain keep their backticks when quoted, so that re-normalizing the
// output classifies them the same way.
func classify(w []byte) (wordKind, kwID) {
	if len(w) < 2 || len(w) > 10 {
		return wordPlain, kwNone
	}
	if len(w) <= 8 && cap(w) >= 8 {
		// Eight bytes are readable from w's start (run caps src at its
		// length, so they are all input): fold them at once, keep the
		// word's own bytes, and take both the hash and the comparison with
		// the keyword from that one word. (w[0] is read from it too: a
		// separate byte load stops the compiler from merging the eight
		// loads into one.)
		x := lower8(binary.LittleEndian.Uint64(w[:8])) & (1<<(8*len(w)) - 1)
		if byte(x) == '_' {
			return classifyUnderscore(w)
		}
		if e := &keywordTable[keywordHash8(x, len(w))]; e.lo == x && len(e.word) == len(w) {
			return e.kind, e.id
		}
		return wordPlain, kwNone
	}
	if w[0] == '_' {
		return classifyUnderscore(w)
	}
	if e := &keywordTable[keywordHash(w)]; len(e.word) == len(w) && equalLower(w, e.word) {
		return e.kind, e.id
	}
	return wordPlain, kwNone
}

// classifyUnderscore classifies a word of 2 to 10 bytes starting with '_':
// a charset introducer or a plain word.
func classifyUnderscore(w []byte) (wordKind, kwID) {
	var a [10]byte
	for i, c := range w[1:] {
		a[i] = lower[c]
	}
	if isCharset(a[:len(w)-1]) {
		return wordCharset, kwNone
	}
	return wordPlain, kwNone
}

type keywordEntry struct {
	word string
	kind wordKind
	id   kwID
}

// keywordSlot is a keyword in keywordTable, with its bytes packed for the
// one-comparison test in classify.
type keywordSlot struct {
	keywordEntry
	lo uint64 // the word's first eight bytes, little-endian, zero-padded
}

var keywords = []keywordEntry{
	{"null", wordLiteral, kwNone}, {"true", wordLiteral, kwNone}, {"false", wordLiteral, kwNone},
	{"order", wordKeyword, kwOrder}, {"group", wordKeyword, kwGroup}, {"by", wordKeyword, kwBy},
	{"values", wordKeyword, kwValues}, {"value", wordPlain, kwValues},
	{"select", wordKeyword, kwNone}, {"from", wordKeyword, kwNone}, {"where", wordKeyword, kwNone},
	{"and", wordKeyword, kwNone}, {"or", wordKeyword, kwNone}, {"not", wordKeyword, kwNone},
	{"xor", wordKeyword, kwNone}, {"on", wordKeyword, kwNone}, {"using", wordKeyword, kwNone},
	{"when", wordKeyword, kwNone}, {"then", wordKeyword, kwNone}, {"else", wordKeyword, kwNone},
	{"elseif", wordKeyword, kwNone}, {"case", wordKeyword, kwNone}, {"limit", wordKeyword, kwNone},
	{"set", wordKeyword, kwNone}, {"in", wordKeyword, kwNone}, {"is", wordKeyword, kwNone},
	{"like", wordKeyword, kwNone}, {"between", wordKeyword, kwNone}, {"return", wordKeyword, kwNone},
	{"interval", wordKeyword, kwNone}, {"div", wordKeyword, kwNone}, {"mod", wordKeyword, kwNone},
	{"regexp", wordKeyword, kwNone}, {"rlike", wordKeyword, kwNone}, {"having", wordKeyword, kwNone},
	{"distinct", wordKeyword, kwNone}, {"all", wordKeyword, kwNone}, {"exists", wordKeyword, kwNone},
	{"as", wordKeyword, kwNone}, {"join", wordKeyword, kwNone}, {"union", wordKeyword, kwNone},
	{"except", wordKeyword, kwNone}, {"intersect", wordKeyword, kwNone}, {"into", wordKeyword, kwNone},
	{"with", wordKeyword, kwNone}, {"default", wordKeyword, kwNone}, {"over", wordKeyword, kwNone},
	{"partition", wordKeyword, kwNone}, {"separator", wordKeyword, kwNone}, {"update", wordKeyword, kwNone},
	{"delete", wordKeyword, kwNone}, {"insert", wordKeyword, kwNone},
}

// keywordTable is a perfect hash of keywords: keywordHash gives every
// keyword its own slot (TestKeywordTable checks this), so a lookup is one
// hash and at most one comparison.
var keywordTable = func() (t [256]keywordSlot) {
	for _, e := range keywords {
		var b [8]byte
		copy(b[:], e.word)
		t[keywordHash([]byte(e.word))] = keywordSlot{e, binary.LittleEndian.Uint64(b[:])}
	}
	return t
}()

// keywordHash mixes the length with the first two and the last byte,
// case-insensitively. len(w) >= 2.
func keywordHash(w []byte) uint8 {
	return uint8(len(w) + int(lower[w[0]]) + 22*int(lower[w[1]]) + int(lower[w[len(w)-1]]))
}

// keywordHash8 is keywordHash of a word of l bytes (1 <= l <= 8) given as
// its bytes lower-cased, little-endian, in x.
func keywordHash8(x uint64, l int) uint8 {
	return uint8(l + int(byte(x)) + 22*int(byte(x>>8)) + int(byte(x>>(8*(l-1)))))
}

func equalLower(w []byte, lowerWord string) bool {
	for i, c := range w {
		if lower[c] != lowerWord[i] {
			return false
		}
	}
	return true
}

// isCharset reports whether s (lower case, without the leading underscore)
// names a MySQL or MariaDB character set usable as an introducer.
func isCharset(s []byte) bool {
	switch string(s) {
	case "armscii8", "ascii", "big5", "binary", "cp1250", "cp1251", "cp1256",
		"cp1257", "cp850", "cp852", "cp866", "cp932", "dec8", "eucjpms", "euckr",
		"filename", "gb18030", "gb2312", "gbk", "geostd8", "greek", "hebrew", "hp8",
		"keybcs2", "koi8r", "koi8u", "latin1", "latin2", "latin5", "latin7",
		"macce", "macroman", "sjis", "swe7", "tis620", "ucs2", "ujis", "utf16",
		"utf16le", "utf32", "utf8", "utf8mb3", "utf8mb4":
		return true
	}
	return false
}
