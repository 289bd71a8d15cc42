package regex

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"gopkg.in/src-d/go-errors.v1"
)

// Regex is a compiled pattern and the text it is matched against. Set the
// pattern with SetRegexString, then the text with SetMatchString, then ask.
// A Regex is for one goroutine at a time.
type Regex interface {
	// SetRegexString compiles regexStr with flags. It must come first, and
	// it clears the match string. A pattern that does not compile is an
	// ErrInvalidRegex.
	SetRegexString(ctx context.Context, regexStr string, flags RegexFlags) error
	// SetMatchString sets the text that the other methods search.
	SetMatchString(ctx context.Context, matchStr string) error
	// IndexOf searches from character start (1 is the first) for the
	// occurrence-th match (values below 1 mean 1), and returns the position
	// of its first character, or with endIndex the position just after its
	// last one. It returns 0 when there is no such match, or when start is
	// outside 0..length+1 (0 searches from the first character, as it did
	// in the original).
	IndexOf(ctx context.Context, start int, occurrence int, endIndex bool) (int, error)
	// Matches reports whether there is an occurrence-th match (values below
	// 1 mean 1). Unlike in IndexOf and Substring, start counts from 0 here
	// (-1 also means 0), as it did in the original; go-mysql-server passes 0.
	Matches(ctx context.Context, start int, occurrence int) (bool, error)
	// Replace returns the match string with matches replaced by
	// replacementStr: searching from character position (1 is the first),
	// only the occurrence-th match, or every match when occurrence is 0
	// (below 0 means 1). Text without such a match comes back unchanged. A
	// position outside 1..length+1 is an error, as in MySQL.
	Replace(ctx context.Context, replacementStr string, position int, occurrence int) (string, error)
	// Substring returns the occurrence-th match searching from character
	// start, as IndexOf finds it, and false when there is none.
	Substring(ctx context.Context, start int, occurrence int) (string, bool, error)
	// StringBufferSize is 0: this implementation keeps no string buffers.
	StringBufferSize() uint32
	// Close forgets the pattern and the text. It releases nothing else, as
	// a Regex holds only Go memory.
	Close() error
}

// RegexFlags change how a pattern is read; combine them with |. The values
// are ICU's.
type RegexFlags uint32

const (
	// RegexFlags_None is the default: case-sensitive, . does not match a
	// line end, ^ and $ match at the ends of the text only.
	RegexFlags_None RegexFlags = 0
	// RegexFlags_Case_Insensitive matches letters regardless of case: (?i).
	RegexFlags_Case_Insensitive RegexFlags = 2
	// RegexFlags_Comments ignores white space and #-comments in the
	// pattern: they are removed before compiling. Only ASCII white space
	// counts; ICU also ignores U+0085, U+200E, U+200F, U+2028 and U+2029.
	RegexFlags_Comments RegexFlags = 4
	// RegexFlags_Dot_All lets . match \n: (?s).
	RegexFlags_Dot_All RegexFlags = 32
	// RegexFlags_Literal matches the pattern as plain text. Only
	// RegexFlags_Case_Insensitive still matters with it.
	RegexFlags_Literal RegexFlags = 16
	// RegexFlags_Multiline lets ^ and $ match at line ends too: (?m).
	RegexFlags_Multiline RegexFlags = 8
	// RegexFlags_Unix_Lines makes \n the only line end, which RE2 always
	// does; see the package documentation.
	RegexFlags_Unix_Lines RegexFlags = 1
	// RegexFlags_Unicode_Word asks for Unicode (TR 29) word boundaries.
	// Accepted and ignored: \b stays RE2's ASCII word boundary.
	RegexFlags_Unicode_Word RegexFlags = 256
	// RegexFlags_Error_On_Unknown_Escapes rejects escapes such as \y. RE2
	// always does, so the flag is always in effect; without it ICU would
	// read \y as y.
	RegexFlags_Error_On_Unknown_Escapes RegexFlags = 512
)

// The errors are go-errors kinds, as in the original: go-mysql-server's
// engine tests match ErrInvalidRegex with Kind.Is.
var (
	// ErrRegexNotYetSet is returned when a method is called before SetRegexString.
	ErrRegexNotYetSet = errors.NewKind("SetRegexString must be called before any other function")
	// ErrMatchNotYetSet is returned when a search is asked for before SetMatchString.
	ErrMatchNotYetSet = errors.NewKind("SetMatchString must be called as there is nothing to match against")
	// ErrInvalidRegex is the kind of error for a pattern that does not
	// compile; its cause is regexp's error.
	ErrInvalidRegex = errors.NewKind("the given regular expression is invalid")
	// ErrIndexOutOfBounds is returned by Replace for a position outside the text.
	ErrIndexOutOfBounds = errors.NewKind("index out of bounds in regular expression search")
	// ErrInvalidCaptureGroup is the kind of error for a replacement string
	// that names a group the pattern does not have.
	ErrInvalidCaptureGroup = errors.NewKind("invalid capture group in replacement string: %s")
)

// CreateRegex returns an empty Regex. The buffer size, which sized the
// original's preallocated WebAssembly memory, is ignored.
func CreateRegex(stringBufferInBytes uint32) Regex {
	return &goRegex{}
}

// SetRegexLeakHandler is kept for go-mysql-server, which installs a logger
// for Regexes that are never closed. Such a Regex leaks nothing here, so
// the handler is never called.
func SetRegexLeakHandler(handler func()) {}

// goRegex implements Regex on regexp.
type goRegex struct {
	expr    string         // the pattern as compiled, flags included
	re      *regexp.Regexp // nil until SetRegexString succeeds
	after   *regexp.Regexp // expr searched from a position past 0; see findAt
	text    string
	hasText bool
}

// SetRegexString implements Regex.
func (r *goRegex) SetRegexString(_ context.Context, regexStr string, flags RegexFlags) error {
	*r = goRegex{}
	expr := translate(regexStr, flags)
	if err := checkBackreferences(expr); err != nil {
		return ErrInvalidRegex.Wrap(err)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return ErrInvalidRegex.Wrap(err)
	}
	r.expr, r.re = expr, re
	return nil
}

// translate turns an ICU pattern and its flags into RE2 syntax.
func translate(pattern string, flags RegexFlags) string {
	switch {
	case flags&RegexFlags_Literal != 0:
		pattern = regexp.QuoteMeta(pattern)
	case flags&RegexFlags_Comments != 0:
		pattern = stripComments(pattern)
	}
	var modes string
	if flags&RegexFlags_Case_Insensitive != 0 {
		modes += "i"
	}
	if flags&RegexFlags_Multiline != 0 {
		modes += "m"
	}
	if flags&RegexFlags_Dot_All != 0 {
		modes += "s"
	}
	if modes == "" {
		return pattern
	}
	return "(?" + modes + ")" + pattern
}

// checkBackreferences rejects \1 to \9. In ICU they are backreferences,
// which RE2 lacks; RE2 rejects a lone \1 but reads \10 or \41 as octal
// character codes, which would silently match something else.
func checkBackreferences(p string) error {
	for i := 0; i+1 < len(p); i++ {
		if p[i] != '\\' {
			continue
		}
		if c := p[i+1]; '1' <= c && c <= '9' {
			return fmt.Errorf("backreference \\%c: not supported by Go's regexp (RE2)", c)
		}
		i++
	}
	return nil
}

// stripComments removes the white space and the comments (# to the end of
// the line) of a free-spacing pattern, inside brackets too, as ICU does. An
// escaped character is kept: \# and \  (backslash, space) stay literal.
func stripComments(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p):
			b.WriteString(p[i : i+2])
			i++
		case isSpace(c):
		case c == '#':
			for i+1 < len(p) && p[i+1] != '\n' {
				i++
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// SetMatchString implements Regex.
func (r *goRegex) SetMatchString(_ context.Context, matchStr string) error {
	if r.re == nil {
		return ErrRegexNotYetSet.New()
	}
	r.text, r.hasText = matchStr, true
	return nil
}

// IndexOf implements Regex.
func (r *goRegex) IndexOf(_ context.Context, start int, occurrence int, endIndex bool) (int, error) {
	m, err := r.nth(start-1, occurrence)
	if m == nil {
		return 0, err
	}
	at := m[0]
	if endIndex {
		at = m[1]
	}
	return utf8.RuneCountInString(r.text[:at]) + 1, nil
}

// Matches implements Regex.
func (r *goRegex) Matches(_ context.Context, start int, occurrence int) (bool, error) {
	if start == 0 && occurrence <= 1 && r.ready() == nil {
		// What REGEXP and REGEXP_LIKE ask, row after row: no need for
		// the submatches nth computes.
		return r.re.MatchString(r.text), nil
	}
	m, err := r.nth(start, occurrence)
	return m != nil, err
}

// Substring implements Regex.
func (r *goRegex) Substring(_ context.Context, start int, occurrence int) (string, bool, error) {
	m, err := r.nth(start-1, occurrence)
	if m == nil {
		return "", false, err
	}
	return r.text[m[0]:m[1]], true, nil
}

// Replace implements Regex.
func (r *goRegex) Replace(_ context.Context, replacementStr string, position int, occurrence int) (string, error) {
	if err := r.ready(); err != nil {
		return "", err
	}
	off, ok := byteOffset(r.text, position-1)
	if !ok {
		return "", ErrIndexOutOfBounds.New()
	}
	limit := max(occurrence, 1)
	if occurrence == 0 {
		limit = 0
	}
	ms, err := r.scan(off, limit)
	if err != nil {
		return "", err
	}
	if occurrence > 1 {
		if len(ms) < occurrence {
			return r.text, nil
		}
		ms = ms[occurrence-1:]
	}
	if len(ms) == 0 {
		return r.text, nil
	}
	template, err := goTemplate(replacementStr, r.re)
	if err != nil {
		return "", err
	}
	var out []byte
	copied := 0
	for _, m := range ms {
		out = append(out, r.text[copied:m[0]]...)
		out = r.re.ExpandString(out, template, r.text, m)
		copied = m[1]
	}
	return string(append(out, r.text[copied:]...)), nil
}

// StringBufferSize implements Regex.
func (r *goRegex) StringBufferSize() uint32 {
	return 0
}

// Close implements Regex.
func (r *goRegex) Close() error {
	*r = goRegex{}
	return nil
}

// ready reports ErrRegexNotYetSet or ErrMatchNotYetSet.
func (r *goRegex) ready() error {
	if r.re == nil {
		return ErrRegexNotYetSet.New()
	}
	if !r.hasText {
		return ErrMatchNotYetSet.New()
	}
	return nil
}

// nth returns the submatch indexes (in bytes) of the occurrence-th match
// found from character index start (0 is the first character), or nil.
// A start of -1 means 0: the original passed start unchecked to ICU's
// uregex_find, which reads -1 as "from the beginning", so IndexOf(0, ...)
// searched from the first character, and so does it here.
func (r *goRegex) nth(start, occurrence int) ([]int, error) {
	if err := r.ready(); err != nil {
		return nil, err
	}
	if start == -1 {
		start = 0
	}
	off, ok := byteOffset(r.text, start)
	if !ok {
		return nil, nil
	}
	n := max(occurrence, 1)
	ms, err := r.scan(off, n)
	if err != nil || len(ms) < n {
		return nil, err
	}
	return ms[n-1], nil
}

// scan returns the first limit matches (all of them if limit is 0) in the
// order ICU's uregex_find and uregex_findNext find them: the first at or
// after byte offset off, each next one from where the previous one ended,
// or one character further on if it was empty.
func (r *goRegex) scan(off, limit int) ([][]int, error) {
	var ms [][]int
	for off <= len(r.text) && (limit == 0 || len(ms) < limit) {
		m, err := r.findAt(off)
		if m == nil {
			return ms, err
		}
		ms = append(ms, m)
		off = m[1]
		if m[0] == m[1] {
			if off == len(r.text) {
				break
			}
			_, size := utf8.DecodeRuneInString(r.text[off:])
			off += size
		}
	}
	return ms, nil
}

// findAt returns the submatch indexes of the leftmost match that starts at
// byte offset off or later, or nil. Slicing the text at off would let ^
// match there and hide the preceding character from \b, so past 0 it runs
// r.after, which consumes the character before off and then searches:
// \A(?s:.)(?s:.*?)(expr). The lazy .*? makes the leftmost match of expr the
// preferred one, and group 1 and those after it are expr's own.
func (r *goRegex) findAt(off int) ([]int, error) {
	if off == 0 {
		return r.re.FindStringSubmatchIndex(r.text), nil
	}
	if r.after == nil {
		after, err := regexp.Compile(`\A(?s:.)(?s:.*?)(` + r.expr + `)`)
		if err != nil {
			return nil, ErrInvalidRegex.Wrap(err)
		}
		r.after = after
	}
	_, size := utf8.DecodeLastRuneInString(r.text[:off])
	base := off - size
	m := r.after.FindStringSubmatchIndex(r.text[base:])
	if m == nil {
		return nil, nil
	}
	m = m[2:]
	for i := range m {
		if m[i] >= 0 {
			m[i] += base
		}
	}
	return m, nil
}

// byteOffset returns the byte offset of the character at index n of s,
// where n may be the number of characters (the end of s); ok is false for
// an n outside 0..that number.
func byteOffset(s string, n int) (offset int, ok bool) {
	if n < 0 {
		return 0, false
	}
	for i := range s {
		if n == 0 {
			return i, true
		}
		n--
	}
	return len(s), n == 0
}
