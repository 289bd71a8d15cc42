package fingerprint

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Normalize appends the normalized form of sql to dst and returns the
// extended slice. It allocates nothing when dst has room for the result
// (the result is never longer than twice the input plus a few bytes).
//
// Normalize scans the whole of sql; callers that need an input cap slice sql
// first (Fingerprinter does, see Config.MaxInput). sqlcommenter comments are
// stripped like any other comment; use a Fingerprinter to read their tags.
func Normalize(dst, sql []byte) []byte {
	var n normalizer
	return n.run(dst, sql, nil)
}

// class is the kind of the last token written, which decides spacing,
// whether a following sign is unary, and how parenthesized groups collapse.
type class uint8

const (
	clsNone     class = iota // start of input
	clsWord                  // identifier, quoted identifier, @variable, non-reserved word
	clsKeyword               // reserved word from classify
	clsLiteral               // '?'
	clsEllipsis              // '...', the inside of a collapsed group
	clsOrdinal               // ORDER BY / GROUP BY ordinal, written verbatim
	clsOpen                  // (
	clsClose                 // )
	clsComma                 // ,
	clsDot                   // qualifier dot right after a word: written tight
	clsLooseDot              // any other dot: written with spaces
	clsSemi                  // ; (written lazily, so a trailing one disappears)
	clsSign                  // unary + or -, removed again if a literal follows
	clsOp                    // any other operator or punctuation
)

// maxFrames bounds the nesting depth that group collapsing tracks, so the
// normalizer needs no heap. Deeper groups are written as they are.
const maxFrames = 32

// frame is the state of one nesting level: frames[0] is the top level
// (never collapsed itself), frames[d] the group opened at depth d. The flags
// of the current level live in normalizer.flags; a frame's flags field holds
// them only while a deeper group is open.
type frame struct {
	start     int // dst offset of '('
	lastStart int // span of the last plain child group, for sibling collapse
	lastEnd   int // -1 when there is none
	flags     uint8
}

// Frame flags.
const (
	fLiteral   uint8 = 1 << iota // only literals and commas so far
	fConstant                    // only literals, commas and calls of literals so far
	fWordConst                   // fConstant as it was before the last word (a possible call name)
	fRestore                     // a call's argument list: the parent's fConstant before the call's name
	fCall                        // the group is the argument list of a call
	fNonEmpty                    // the group has at least one token
	fRows                        // children are VALUES rows: identical neighbours collapse
)

// frameClear and frameSet say how a token of each class changes the flags of
// the group it is written in (fWordConst is saved apart, in word).
var frameClear, frameSet = func() (clr, set [256]uint8) { // indexed by class
	for c := range clsOp + 1 {
		switch class(c) {
		case clsLiteral, clsEllipsis, clsSign: // a sign is settled by the next token
			clr[c], set[c] = fRows, fNonEmpty
		case clsComma, clsOpen:
			set[c] = fNonEmpty
		case clsClose:
		default:
			clr[c], set[c] = fLiteral|fConstant|fRows, fNonEmpty
		}
	}
	return clr, set
}()

// normalizer is the single-pass tokenizer and writer. It works on bytes
// only, never fails and never panics on any input; the zero value is ready
// for run.
type normalizer struct {
	src  []byte
	pos  int
	dst  []byte
	base int
	tags *[]Tag

	prev    class
	prevKw  kwID
	prevEnd int // src offset just past the last word, for qualifier dots

	depth    int
	flags    uint8 // frame flags of the current level
	byDepth  int
	byActive bool // inside an ORDER BY or GROUP BY list at byDepth

	inExec  bool // inside /*! ... */ or /*M! ... */
	execEnd int  // src offset of a "*/" known to close the current executable comment

	// pending holds the decisions that wait for the next token.
	pending uint8

	signStart  int
	signPrev   class
	signPrevKw kwID

	ordStart int

	// Literal values, for Fingerprint.Values and Literals: tokStart is where
	// the current token starts in src, signSrc where a pending sign run
	// starts. When hashVals is set every literal's source bytes (a folded
	// sign included) are hashed into vals; when lits is set their spans are
	// collected. vals is a value, not a pointer, so that run stores no
	// pointers but the output slice while it works (see appendLower).
	tokStart int
	signSrc  int
	hashVals bool
	vals     valueHashes
	lits     *[]span

	frames [maxFrames]frame
}

// span is a literal's [start, end) in the source.
type span struct{ start, end int }

func (n *normalizer) run(dst, src []byte, tags *[]Tag) []byte {
	// Capping src at its length lets word scanning read eight bytes at
	// once wherever that many are left, without ever looking past the
	// input (FingerprintBytes and Normalize callers may own the rest).
	src = src[:len(src):len(src)]
	n.src, n.pos, n.dst, n.base, n.tags = src, 0, dst, len(dst), tags
	n.prev, n.prevKw, n.prevEnd = clsNone, kwNone, -1
	n.depth, n.byDepth, n.byActive = 0, 0, false
	n.inExec, n.execEnd = false, -1
	n.pending = 0
	n.flags = 0
	n.frames[0] = frame{lastEnd: -1}

	for n.pos < len(src) {
		c := src[n.pos]
		if c <= ' ' { // bSpace, the most frequent byte class, without the lookup
			n.pos++
			continue
		}
		n.tokStart = n.pos
		switch byteClass[c] {
		case bIdent:
			n.identifier()
		case bDigit:
			n.number(n.pos)
		case bQuote:
			n.pos, _ = scanString(src, n.pos)
			n.literal()
			if n.pos < len(src) && src[n.pos] == ',' {
				n.literalRun()
			}
		case bBacktick:
			n.quotedIdentifier()
		default:
			n.punct(c)
		}
	}
	n.resolveOrdinal(true)
	// The normalizer must not keep the input or the output alive (a
	// Fingerprinter drops an oversized buffer); tags is the caller's own
	// field, so clearing it would only cost a write barrier.
	out := n.dst
	n.src, n.dst = nil, nil
	return out
}

// scanString returns the offset just past the string literal whose opening
// quote is at i, honouring backslash escapes and doubled quotes, and whether
// it is terminated. An unterminated string runs to the end of src.
func scanString(src []byte, i int) (int, bool) {
	q := src[i]
	j := i + 1
	for {
		k := bytes.IndexByte(src[j:], q)
		if k < 0 {
			return len(src), false
		}
		k += j
		bs := 0
		for p := k - 1; p >= j && src[p] == '\\'; p-- {
			bs++
		}
		if bs&1 == 1 { // escaped quote
			j = k + 1
			continue
		}
		if k+1 < len(src) && src[k+1] == q { // doubled quote
			j = k + 2
			continue
		}
		return k + 1, true
	}
}

// scanPlain returns the offset just past the quoted run at i that ends at
// the next quote byte with no escapes (X'..', B'..'), or -1 if unterminated.
func scanPlain(src []byte, i int) int {
	k := bytes.IndexByte(src[i+1:], src[i])
	if k < 0 {
		return -1
	}
	return i + 1 + k + 1
}

// scanBacktick returns the offset just past the backtick-quoted name at i
// (a doubled backtick stands for one), or -1 if unterminated.
func scanBacktick(src []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(src[j:], '`')
		if k < 0 {
			return -1
		}
		k += j
		if k+1 < len(src) && src[k+1] == '`' {
			j = k + 2
			continue
		}
		return k + 1
	}
}

func scanIdent(src []byte, i int) int {
	for j, c := range src[i:] { // a range loop needs no bounds checks
		if !identChar[c] {
			return i + j
		}
	}
	return len(src)
}

// prepare settles what the previous tokens left open before a token of class
// c is written: a pending ordinal, a run of unary signs, a pending ';', and
// the bookkeeping of the enclosing group.
func (n *normalizer) prepare(c class) {
	if n.pending != 0 {
		n.settle(c)
	}
	n.flags = n.flags&^frameClear[c] | frameSet[c]
}

// Bits of normalizer.pending.
const (
	pendOrdinal uint8 = 1 << iota // an ORDER/GROUP BY integer that may still become '?'
	pendSign                      // a run of unary signs that may still fold into a literal
	pendSemi                      // a ';' written only if another token follows
)

// settle resolves a pending ordinal, sign run or ';' before a token of
// class c.
func (n *normalizer) settle(c class) {
	if n.pending&pendOrdinal != 0 {
		switch c {
		case clsComma, clsClose, clsWord, clsKeyword:
			n.resolveOrdinal(true)
		default:
			n.resolveOrdinal(false)
		}
	}
	if n.pending&pendSign != 0 && c != clsSign {
		n.pending &^= pendSign
		if c == clsLiteral || c == clsEllipsis {
			// Rule 2: a unary sign folds into the literal.
			n.dst = n.dst[:n.signStart]
			n.prev, n.prevKw = n.signPrev, n.signPrevKw
		} else {
			n.flags &^= fLiteral | fConstant
		}
	}
	if n.pending&pendSemi != 0 {
		n.pending &^= pendSemi
		n.dst = append(n.dst, ';')
	}
}

// sep writes the canonical separator before a token of class c.
func (n *normalizer) sep(c class) {
	if len(n.dst) == n.base {
		return
	}
	switch c {
	case clsComma, clsClose, clsDot:
		return
	}
	switch n.prev {
	case clsNone, clsOpen:
		return
	case clsDot:
		// "a. ..." and "a. .b" must not re-tokenize as an ellipsis.
		if c != clsLooseDot && c != clsEllipsis {
			return
		}
	case clsWord:
		if c == clsOpen && n.prevKw != kwValues { // call: f(...)
			return
		}
	}
	n.dst = append(n.dst, ' ')
}

func (n *normalizer) cur() *frame {
	if n.depth < maxFrames {
		return &n.frames[n.depth]
	}
	return nil
}

// resolveOrdinal settles a pending ORDER BY / GROUP BY integer: it stays an
// ordinal when the item ends right after it (keep), else it was the start of
// an expression and becomes '?'.
func (n *normalizer) resolveOrdinal(keep bool) {
	if n.pending&pendOrdinal == 0 {
		return
	}
	n.pending &^= pendOrdinal
	if !keep {
		n.dst = n.dst[:n.ordStart]
		n.dst = append(n.dst, '?')
		n.prev = clsLiteral
	}
}

// literal writes the '?' of a literal that ends at n.pos.
func (n *normalizer) literal() {
	if n.hashVals || n.lits != nil {
		n.value()
	}
	n.prepare(clsLiteral)
	n.sep(clsLiteral)
	n.dst = append(n.dst, '?')
	n.prev, n.prevKw = clsLiteral, kwNone
}

// ellipsis writes a "..." found in the input: it stands for literals but
// has no value of its own.
func (n *normalizer) ellipsis() {
	n.prepare(clsEllipsis)
	n.sep(clsEllipsis)
	copy(n.extend(3), "...")
	n.prev, n.prevKw = clsEllipsis, kwNone
}

// value records the literal that ends at n.pos, with the unary signs that
// fold into it.
func (n *normalizer) value() {
	start := n.tokStart
	if n.pending&pendSign != 0 && n.signSrc < start {
		start = n.signSrc
	}
	if start > n.pos {
		start = n.pos
	}
	if n.hashVals {
		v := &n.vals
		h := xxhash.Sum64(n.src[start:n.pos])
		// Order matters, and ('ab','c') must differ from ('a','bc'): fold
		// each literal's own hash into the running one.
		v.sum = bits.RotateLeft64(v.sum^h, 27)*0x9E3779B185EBCA87 + 1
		if v.n < len(v.lits) {
			v.lits[v.n] = h
		}
		v.n++
	}
	if n.lits != nil {
		*n.lits = append(*n.lits, span{start, n.pos})
	}
}

// valueHashes accumulates what Fingerprint learns about literal values.
type valueHashes struct {
	sum  uint64
	lits [MaxLiteralHashes]uint64
	n    int
}

// integer writes a decimal integer: an ordinal when it is a whole item of an
// ORDER BY or GROUP BY list (rule 3), else '?'.
func (n *normalizer) integer(digits []byte) {
	if n.byActive && n.depth == n.byDepth && n.pending&pendSign == 0 &&
		(n.prev == clsComma || n.prev == clsKeyword && n.prevKw == kwBy) {
		n.prepare(clsOrdinal)
		n.sep(clsOrdinal)
		n.pending |= pendOrdinal
		n.ordStart = len(n.dst)
		copy(n.extend(len(digits)), digits)
		n.prev, n.prevKw = clsOrdinal, kwNone
		return
	}
	n.literal()
	if n.pos < len(n.src) && n.src[n.pos] == ',' {
		n.literalRun()
	}
}

// literalRun carries on after a literal just written, whose end a comma
// follows, with the literals that follow it one comma apart, as in IN
// lists, VALUES rows and argument lists: plain integers, '?' placeholders
// and quoted strings. It writes what the main loop would for each (", ?",
// the value, the group flags) without the dispatch of every comma and
// literal through run, punct, number, integer and literal, which on an IN
// list of integers cost more than the bytes themselves. It stops, leaving
// n.pos after the last literal, at anything else: a blank before a comma,
// and an integer that needs a closer look (a '.', an exponent, a radix
// prefix or letters after the digits, or a possible ORDER BY / GROUP BY
// ordinal) included. Callers check for the comma, so that a literal that
// ends an item costs no call.
func (n *normalizer) literalRun() {
	src := n.src
	// After literal() nothing is pending and prev is clsLiteral: a comma
	// then only sets fNonEmpty, and a literal after it is written with a
	// blank before it and clears fRows.
	ordinals := n.byActive && n.depth == n.byDepth
	for {
		i := n.pos
		if i >= len(src) || src[i] != ',' {
			return
		}
		i++
		for i < len(src) && src[i] <= ' ' {
			i++
		}
		if i >= len(src) {
			return
		}
		end := i + 1
		switch c := src[i]; {
		case c >= '0' && c <= '9':
			if ordinals {
				return
			}
			for end < len(src) && src[end] >= '0' && src[end] <= '9' {
				end++
			}
			if end < len(src) && (src[end] == '.' || identChar[src[end]]) {
				return
			}
		case c == '?':
		case c == '\'' || c == '"':
			end, _ = scanString(src, i)
		default:
			return
		}
		n.tokStart, n.pos = i, end
		if n.hashVals || n.lits != nil {
			n.value()
		}
		n.flags = n.flags&^fRows | fNonEmpty
		copy(n.extend(3), ", ?")
	}
}

// word writes a bare word lower-cased. The word ends at n.pos.
func (n *normalizer) word(w []byte, kind wordKind, id kwID) {
	c := n.startWord(kind, id)
	n.appendLower(w)
	n.prev, n.prevKw, n.prevEnd = c, id, n.pos
}

// startWord does for a word of the given kind what comes before its bytes:
// it settles what is pending, updates the group flags and the ORDER/GROUP BY
// state, and writes the separator. It returns the word's class.
func (n *normalizer) startWord(kind wordKind, id kwID) class {
	c := clsWord
	if kind == wordKeyword {
		c = clsKeyword
	}
	if n.pending != 0 {
		n.settle(c)
	}
	fl := n.flags
	if c == clsWord { // a possible call name: remember fConstant for the call
		fl = fl&^fWordConst | (fl&fConstant)<<1
	}
	n.flags = fl&^frameClear[c] | frameSet[c]
	if c == clsKeyword {
		if id == kwBy && n.prev == clsKeyword && (n.prevKw == kwOrder || n.prevKw == kwGroup) {
			n.byActive, n.byDepth = true, n.depth
		} else if n.byActive && n.depth == n.byDepth {
			n.byActive = false
		}
	}
	if len(n.dst) > n.base && spaceBeforeWord[n.prev] { // sep(c), specialized
		n.dst = append(n.dst, ' ')
	}
	return c
}

// spaceBeforeWord is sep for a word or keyword: a blank unless at the
// start, after '(' or after a qualifier dot.
var spaceBeforeWord = [clsOp + 1]bool{
	clsWord: true, clsKeyword: true, clsLiteral: true, clsEllipsis: true, clsOrdinal: true,
	clsClose: true, clsComma: true, clsLooseDot: true, clsSemi: true, clsSign: true, clsOp: true,
}

// identifier handles a token starting with a letter, '_', '$' or a byte
// >= 0x80: a word, or the prefix of X'..', B'..', N'..', or a charset
// introducer.
func (n *normalizer) identifier() {
	src, i := n.src, n.pos
	end := scanIdent(src, i)
	if l := end - i; l <= 8 && len(src)-i >= 8 {
		if n.shortWord(binary.LittleEndian.Uint64(src[i:]), l) {
			return
		}
	}
	if n.prev == clsDot {
		// After a qualifier dot, even with blanks around it, MySQL reads an
		// identifier: t. value, t. null.
		n.pos = end
		n.word(src[i:end], wordPlain, kwNone)
		return
	}
	if end-i == 1 && end < len(src) && src[end] == '\'' {
		switch src[i] | 0x20 {
		case 'x', 'b': // X'0f', B'01'
			if e := scanPlain(src, end); e >= 0 {
				n.pos = e
			} else {
				n.pos = len(src)
			}
			n.literal()
			return
		case 'n': // N'national'
			n.pos, _ = scanString(src, end)
			n.literal()
			return
		}
	}
	kind, id := classify(src[i:end])
	switch kind {
	case wordLiteral:
		n.pos = end
		n.literal()
		return
	case wordCharset:
		if n.stringFollows(end) { // _utf8mb4'..': the introducer is dropped
			n.pos = end
			return
		}
		kind = wordPlain
	}
	n.pos = end
	n.word(src[i:end], kind, id)
}

// shortWord is identifier's common case done in one go: a word of up to
// eight bytes, with eight bytes of input readable from its start, that is a
// plain or reserved word, or any name after a qualifier dot. x holds those
// eight bytes and l the word's length. They are lower-cased once and serve
// both the keyword lookup and the output.
// It reports false, having changed nothing, for what it does not handle:
// longer words, NULL, TRUE and FALSE, possible charset introducers, and the
// X'..', B'..' and N'..' prefixes.
func (n *normalizer) shortWord(x uint64, l int) bool {
	src, i := n.src, n.pos
	end := i + l
	if l == 0 {
		return false
	}
	x = lower8(x) & (1<<(8*l) - 1)
	kind, id := wordPlain, kwNone
	if n.prev != clsDot {
		if l == 1 && src[end] == '\'' || byte(x) == '_' {
			return false
		}
		if e := &keywordTable[keywordHash8(x, l)]; e.lo == x && len(e.word) == l {
			if e.kind != wordKeyword && e.kind != wordPlain {
				return false
			}
			kind, id = e.kind, e.id
		}
	}
	n.pos = end
	c := n.startWord(kind, id)
	putShort(n.extend(l), x)
	n.prev, n.prevKw, n.prevEnd = c, id, end
	return true
}

// putShort stores the len(t) low bytes of x (1 <= len(t) <= 8) into t,
// little-endian, as two overlapping halves: exactly len(t) bytes, so
// nothing past the output is written.
func putShort(t []byte, x uint64) {
	switch l := len(t); {
	case l >= 4:
		binary.LittleEndian.PutUint32(t, uint32(x))
		binary.LittleEndian.PutUint32(t[l-4:], uint32(x>>(8*(l-4))))
	case l >= 2:
		binary.LittleEndian.PutUint16(t, uint16(x))
		binary.LittleEndian.PutUint16(t[l-2:], uint16(x>>(8*(l-2))))
	case l == 1:
		t[0] = byte(x)
	}
}

// stringFollows reports whether a string, hex or bit literal starts at i,
// after optional whitespace. A '?' does not count: "_binary ?" must read the
// same when normalized again, where any literal has become '?'.
func (n *normalizer) stringFollows(i int) bool {
	src := n.src
	for i < len(src) && src[i] <= ' ' {
		i++
	}
	if i >= len(src) {
		return false
	}
	c := src[i]
	if c == '\'' || c == '"' {
		return true
	}
	if i+1 >= len(src) {
		return false
	}
	switch c | 0x20 {
	case 'x', 'b', 'n':
		return src[i+1] == '\''
	}
	return c == '0' && radixLiteralEnd(src, i) > 0
}

// radixLiteralEnd returns the end of the 0x.. or 0b.. literal at i, or 0
// when there is none there: 0x1g and 0b12 are identifiers.
func radixLiteralEnd(src []byte, i int) int {
	if i+2 >= len(src) || src[i] != '0' {
		return 0
	}
	hex := src[i+1]|0x20 == 'x'
	if !hex && src[i+1]|0x20 != 'b' {
		return 0
	}
	j := i + 2
	for j < len(src) && (hex && isHex(src[j]) || !hex && (src[j] == '0' || src[j] == '1')) {
		j++
	}
	if j == i+2 || j < len(src) && isIdentChar(src[j]) {
		return 0
	}
	return j
}

// quotedIdentifier handles `name`. The backticks are dropped when the name
// re-tokenizes as the same plain word; otherwise (empty, odd bytes, a
// leading digit, a keyword) they are kept so normalizing the output again
// gives the same output. An unterminated one swallows the rest of the input.
func (n *normalizer) quotedIdentifier() {
	src, i := n.src, n.pos
	end := scanBacktick(src, i)
	if end < 0 {
		n.pos = len(src)
		return
	}
	n.pos = end
	name := src[i+1 : end-1]
	plain := len(name) > 0 && byteClass[name[0]] == bIdent && scanIdent(name, 0) == len(name)
	if plain {
		if k, id := classify(name); k != wordPlain || id != kwNone {
			plain = false
		}
	}
	if plain {
		n.word(name, wordPlain, kwNone)
	} else {
		n.word(src[i:end], wordPlain, kwNone)
	}
}

// number handles a token starting with a digit, or a '.' followed by one.
func (n *normalizer) number(i int) {
	src := n.src
	if src[i] == '0' {
		if e := radixLiteralEnd(src, i); e > 0 {
			n.pos = e
			n.literal()
			return
		}
	}
	j := i
	for j < len(src) && src[j] >= '0' && src[j] <= '9' {
		j++
	}
	isInt := j > i
	if j < len(src) && src[j] == '.' {
		isInt = false
		j++
		for j < len(src) && src[j] >= '0' && src[j] <= '9' {
			j++
		}
	}
	if j < len(src) && src[j]|0x20 == 'e' {
		k := j + 1
		if k < len(src) && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < len(src) && src[k] >= '0' && src[k] <= '9' {
			isInt = false
			j = k
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
		}
	}
	if isInt && j < len(src) && isIdentChar(src[j]) {
		// MySQL identifiers may start with digits: 1abc, 0x1g, 123_t.
		end := scanIdent(src, j)
		n.pos = end
		n.word(src[i:end], wordPlain, kwNone)
		return
	}
	n.pos = j
	if isInt {
		n.integer(src[i:j])
		return
	}
	n.literal()
}

func (n *normalizer) punct(c byte) {
	src, i := n.src, n.pos
	next := byte(0)
	if i+1 < len(src) {
		next = src[i+1]
	}
	switch c {
	case '(':
		n.pos++
		n.open()
	case ')':
		n.pos++
		n.close()
	case ',':
		n.pos++
		n.prepare(clsComma)
		n.dst = append(n.dst, ',')
		n.prev, n.prevKw = clsComma, kwNone
	case ';':
		n.pos++
		n.semicolon()
	case '?':
		n.pos++
		n.literal()
		if n.pos < len(src) && src[n.pos] == ',' {
			n.literalRun()
		}
	case '.':
		n.dot()
	case '@':
		n.variable()
	case '#':
		n.skipLine()
	case '/':
		if next == '*' {
			n.comment()
			return
		}
		n.op(1)
	case '*':
		if next == '/' && n.inExec {
			n.inExec = false
			n.pos += 2
			return
		}
		n.op(1)
	case '-':
		if next == '-' && (i+2 >= len(src) || src[i+2] <= ' ') {
			n.skipLine()
			return
		}
		if next == '>' {
			if i+2 < len(src) && src[i+2] == '>' {
				n.op(3) // ->>
			} else {
				n.op(2) // ->
			}
			return
		}
		n.signOrOp()
	case '+':
		n.signOrOp()
	case '<':
		switch {
		case next == '=' && i+2 < len(src) && src[i+2] == '>':
			n.op(3) // <=>
		case next == '=', next == '>', next == '<':
			n.op(2)
		default:
			n.op(1)
		}
	case '>':
		if next == '=' || next == '>' {
			n.op(2)
		} else {
			n.op(1)
		}
	case '!':
		if next == '=' {
			n.op(2)
		} else {
			n.op(1)
		}
	case ':':
		if next == '=' {
			n.op(2)
		} else {
			n.op(1)
		}
	case '|', '&':
		if next == c {
			n.op(2)
		} else {
			n.op(1)
		}
	default:
		n.op(1)
	}
}

func (n *normalizer) op(size int) {
	n.prepare(clsOp)
	n.sep(clsOp)
	copy(n.extend(size), n.src[n.pos:n.pos+size])
	n.pos += size
	n.prev, n.prevKw = clsOp, kwNone
}

// signOrOp writes '+' or '-': unary after an operator, '(', ',', a keyword
// or the start of a statement (then it may fold into a following literal),
// binary after anything that ends a value.
func (n *normalizer) signOrOp() {
	switch n.prev {
	case clsWord, clsLiteral, clsEllipsis, clsOrdinal, clsClose:
		n.op(1)
		return
	}
	n.prepare(clsSign)
	if n.pending&pendSign == 0 {
		n.pending |= pendSign
		n.signStart, n.signPrev, n.signPrevKw = len(n.dst), n.prev, n.prevKw
		n.signSrc = n.pos
	}
	n.sep(clsSign)
	n.dst = append(n.dst, n.src[n.pos])
	n.pos++
	n.prev, n.prevKw = clsSign, kwNone
}

func (n *normalizer) semicolon() {
	n.resolveOrdinal(true)
	n.pending &^= pendSign
	n.flags = n.flags&^(fLiteral|fConstant|fRows) | fNonEmpty
	if len(n.dst) > n.base {
		n.pending |= pendSemi
	}
	n.prev, n.prevKw = clsSemi, kwNone
	n.byActive = false
}

func (n *normalizer) dot() {
	src, i := n.src, n.pos
	if i+2 < len(src) && src[i+1] == '.' && src[i+2] == '.' {
		n.pos += 3
		n.ellipsis()
		return
	}
	if n.prev == clsWord && n.prevEnd == i {
		// Qualifier: db.t, t.col, @@session.x. After the dot MySQL reads an
		// identifier even when it is a reserved word or starts with digits.
		n.prepare(clsDot)
		n.dst = append(n.dst, '.')
		n.prev, n.prevKw = clsDot, kwNone
		n.pos++
		if n.pos < len(src) && isIdentChar(src[n.pos]) {
			n.identifier() // with prev clsDot: a plain word, digits first or not
		}
		return
	}
	if i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9' {
		n.number(i) // .5
		return
	}
	n.pos++
	n.prepare(clsLooseDot)
	n.sep(clsLooseDot)
	n.dst = append(n.dst, '.')
	n.prev, n.prevKw = clsLooseDot, kwNone
}

// variable handles @name, @@name, @'quoted name' and a bare '@'.
func (n *normalizer) variable() {
	src, i := n.src, n.pos
	j := i + 1
	if j < len(src) && src[j] == '@' {
		j++
	}
	if j < len(src) && (src[j] == '\'' || src[j] == '"' || src[j] == '`') {
		end := -1
		if src[j] == '`' {
			end = scanBacktick(src, j)
		} else if e, ok := scanString(src, j); ok {
			end = e
		}
		if end < 0 { // unterminated: swallow the rest
			n.pos = len(src)
			return
		}
		if n.prev == clsLiteral && j == i+1 && src[j] != '`' {
			// 'user'@'host' in account names: the host is a string
			// literal like the user name.
			n.op(1)
			n.pos = end
			n.literal()
			return
		}
		n.pos = end
		n.word(src[i:end], wordPlain, kwNone)
		return
	}
	end := scanIdent(src, j)
	if end == i+1 { // a bare '@'
		n.op(1)
		return
	}
	n.pos = end
	n.word(src[i:end], wordPlain, kwNone)
}

func (n *normalizer) skipLine() {
	k := bytes.IndexByte(n.src[n.pos:], '\n')
	if k < 0 {
		n.pos = len(n.src)
		return
	}
	n.pos += k + 1
}

// comment handles everything starting with "/*": executable comments keep
// their contents as tokens, optimizer hints and plain comments are dropped
// (plain ones are offered to the sqlcommenter parser first), and an
// unterminated comment swallows the rest of the input.
func (n *normalizer) comment() {
	src := n.src
	body := n.pos + 2
	if body < len(src) && src[body] == '!' {
		n.openExec(body + 1)
		return
	}
	if body+1 < len(src) && src[body] == 'M' && src[body+1] == '!' {
		n.openExec(body + 2)
		return
	}
	k := bytes.Index(src[body:], []byte("*/"))
	if k < 0 {
		n.pos = len(src)
		return
	}
	if n.tags != nil && src[body] != '+' {
		parseSQLCommenter(src[body:body+k], n.tags)
	}
	n.pos = body + k + 2
}

// openExec enters an executable comment whose version digits (if any) start
// at p. MySQL writes 5 digits (/*!50708 ...*/), MariaDB /*M!100301 ...*/ 6:
// a run of 5 or 6 digits is the version and is dropped; a shorter run is
// content. Only a comment that is closed somewhere is executable; an
// unterminated one swallows the rest of the input like any comment.
func (n *normalizer) openExec(p int) {
	src := n.src
	if p > n.execEnd {
		k := bytes.Index(src[p:], []byte("*/"))
		if k < 0 {
			n.pos = len(src)
			return
		}
		n.execEnd = p + k
	}
	d := 0
	for p+d < len(src) && d < 6 && src[p+d] >= '0' && src[p+d] <= '9' {
		d++
	}
	if d >= 5 {
		p += d
	}
	n.inExec = true
	n.pos = p
}

func (n *normalizer) open() {
	call := n.prev == clsWord && n.prevKw != kwValues
	row := n.prevKw == kwValues && (n.prev == clsWord || n.prev == clsKeyword)
	n.prepare(clsOpen)
	n.sep(clsOpen)
	start := len(n.dst)
	n.dst = append(n.dst, '(')
	gflags := fLiteral | fConstant
	pflags := n.flags
	if row {
		pflags |= fRows
	}
	if call {
		gflags |= fCall
		if pflags&fWordConst != 0 {
			gflags |= fRestore
		}
	} else {
		pflags &^= fLiteral | fConstant
	}
	if p := n.cur(); p != nil {
		p.flags = pflags
	}
	n.depth++
	if g := n.cur(); g != nil {
		g.start, g.lastEnd = start, -1
	}
	n.flags = gflags
	n.prev, n.prevKw = clsOpen, kwNone
}

// close ends a group and applies rule 4: a group of only literals becomes
// "(...)" (a plain group also when its items are calls of literals, such as
// NOW(), so VALUES rows with them collapse too), and a plain group equal to
// the sibling just before it (", " apart) inside a group or a VALUES row
// list is dropped.
func (n *normalizer) close() {
	n.prepare(clsClose)
	if n.depth == 0 { // unbalanced
		n.dst = append(n.dst, ')')
		n.prev, n.prevKw = clsClose, kwNone
		return
	}
	g := n.cur()
	n.depth--
	if n.byActive && n.depth < n.byDepth {
		n.byActive = false
	}
	n.prev, n.prevKw = clsClose, kwNone
	gf := n.flags
	p := n.cur()
	if p != nil {
		n.flags = p.flags
	} else {
		n.flags = 0
	}
	if g == nil {
		n.dst = append(n.dst, ')')
		return
	}
	if gf&fNonEmpty != 0 && (gf&fLiteral != 0 || gf&(fConstant|fCall) == fConstant) {
		n.dst = n.dst[:g.start]
		copy(n.extend(5), "(...)")
	} else {
		n.dst = append(n.dst, ')')
	}
	if p == nil {
		return
	}
	end := len(n.dst)
	if gf&fCall != 0 {
		if gf&fConstant != 0 || gf&fNonEmpty == 0 {
			// A call of literals is a constant item of its parent.
			n.flags = n.flags&^fConstant | (gf&fRestore)>>2
		}
		p.lastEnd = -1
		return
	}
	if (n.depth > 0 || n.flags&fRows != 0) && p.lastEnd >= 0 && p.lastEnd+2 == g.start &&
		n.dst[p.lastEnd] == ',' && bytes.Equal(n.dst[p.lastStart:p.lastEnd], n.dst[g.start:end]) {
		n.dst = n.dst[:p.lastEnd]
		return
	}
	p.lastStart, p.lastEnd = g.start, end
}

// extend lengthens n.dst by k bytes and returns them, to be filled. Unless
// the array has to grow it stores only n.dst[:len+k] back into n.dst, which
// the compiler does without a write barrier; storing a slice header whose
// pointer may change (n.dst = append(n.dst, b...)) costs one while the GC
// marks, and with one allocation per Fingerprint the GC marks often: such
// stores showed up as ~12% of Fingerprint in profiles. Appends of a single
// byte (n.dst = append(n.dst, c)) are compiled in place too.
func (n *normalizer) extend(k int) []byte {
	s := len(n.dst)
	if cap(n.dst)-s < k {
		n.dst = slices.Grow(n.dst, k)
	}
	n.dst = n.dst[:s+k]
	return n.dst[s:]
}

// appendLower appends w to n.dst with ASCII upper case folded to lower case.
func (n *normalizer) appendLower(w []byte) {
	t := n.extend(len(w))
	if len(w) <= 8 && cap(w) >= 8 {
		// Eight bytes are readable from w's start (run caps src at its
		// length, so they are all input): fold them at once.
		putShort(t, lower8(binary.LittleEndian.Uint64(w[:8])))
		return
	}
	appendLowerTo(t, w)
}

// appendLowerTo writes w into t (as long as w) with ASCII upper case folded
// to lower case, eight bytes at a time.
func appendLowerTo(t, w []byte) {
	i := 0
	for ; i+8 <= len(w) && i+8 <= len(t); i += 8 {
		binary.LittleEndian.PutUint64(t[i:], lower8(binary.LittleEndian.Uint64(w[i:])))
	}
	for ; i < len(w) && i < len(t); i++ {
		t[i] = lower[w[i]]
	}
}

// lower8 folds the ASCII upper-case letters among eight bytes to lower
// case, leaving every other byte (including bytes >= 0x80) alone.
func lower8(x uint64) uint64 {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	h := x &^ high              // low 7 bits of each byte; sums below cannot carry
	ge := h + (0x80-'A')*ones   // bit 7 set where h >= 'A'
	gt := h + (0x80-'Z'-1)*ones // bit 7 set where h > 'Z'
	m := (ge &^ gt) &^ x & high // 'A'..'Z' and the byte was ASCII
	return x | m>>2             // set 0x20
}
