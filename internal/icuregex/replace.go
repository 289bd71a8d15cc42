package regex

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// goTemplate rewrites an ICU replacement string as a template for
// re.ExpandString. In ICU's syntax:
//
//   - $ followed by digits inserts a group, taking as many digits as still
//     name one of re's groups ($0 is the whole match): with two groups, $12
//     is group 1 and then "2". $ then a digit above the group count is an
//     error.
//   - ${name} inserts the named group; an unknown name is an error, and so
//     is a $ followed by anything else.
//   - \uhhhh and \Uhhhhhhhh insert that character, a backslash before any
//     other character makes it literal, and a backslash at the end is
//     dropped.
//
// Go's templates take ${1} for a group and $$ for a dollar sign.
func goTemplate(icu string, re *regexp.Regexp) (string, error) {
	var b strings.Builder
	literal := func(s string) {
		if s == "$" {
			s = "$$"
		}
		b.WriteString(s)
	}
	for i := 0; i < len(icu); {
		switch icu[i] {
		case '\\':
			i++
			if i == len(icu) {
				continue
			}
			if r, n := unescape(icu[i:]); n > 0 {
				literal(string(r))
				i += n
				continue
			}
			_, n := utf8.DecodeRuneInString(icu[i:])
			literal(icu[i : i+n])
			i += n
		case '$':
			i++
			switch {
			case i < len(icu) && isDigit(icu[i]):
				group, j := 0, i
				for ; j < len(icu) && isDigit(icu[j]); j++ {
					next := group*10 + int(icu[j]-'0')
					if next > re.NumSubexp() {
						break
					}
					group = next
				}
				if j == i {
					return "", ErrInvalidCaptureGroup.New(
						fmt.Sprintf("$%c, the pattern has %d groups", icu[i], re.NumSubexp()))
				}
				b.WriteString("${" + strconv.Itoa(group) + "}")
				i = j
			case i < len(icu) && icu[i] == '{':
				end := strings.IndexByte(icu[i:], '}')
				if end < 0 {
					return "", ErrInvalidCaptureGroup.New("unterminated ${")
				}
				name := icu[i+1 : i+end]
				if !isGroupName(name) || re.SubexpIndex(name) < 0 {
					return "", ErrInvalidCaptureGroup.New("${" + name + "}")
				}
				b.WriteString("${" + name + "}")
				i += end + 1
			default:
				return "", ErrInvalidCaptureGroup.New("$ must be followed by a group number or {name}")
			}
		default:
			_, n := utf8.DecodeRuneInString(icu[i:])
			b.WriteString(icu[i : i+n])
			i += n
		}
	}
	return b.String(), nil
}

// unescape decodes the uhhhh or Uhhhhhhhh that s starts with, returning the
// character and the bytes it took, or 0 bytes if s starts with neither.
func unescape(s string) (rune, int) {
	digits := 0
	switch {
	case strings.HasPrefix(s, "u"):
		digits = 4
	case strings.HasPrefix(s, "U"):
		digits = 8
	default:
		return 0, 0
	}
	if len(s) < 1+digits {
		return 0, 0
	}
	v, err := strconv.ParseUint(s[1:1+digits], 16, 32)
	if err != nil || !utf8.ValidRune(rune(v)) {
		return 0, 0
	}
	return rune(v), 1 + digits
}

func isDigit(c byte) bool {
	return '0' <= c && c <= '9'
}

// isGroupName reports whether s is a group name as ICU reads one: a letter,
// then letters and digits.
func isGroupName(s string) bool {
	for i, c := range s {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9')) {
			return false
		}
	}
	return s != ""
}
