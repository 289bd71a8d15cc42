package fingerprint

import "bytes"

// Tag is one sqlcommenter key/value pair found in a comment of a statement.
// Key and Value are URL-decoded, Value has its quotes removed and its
// backslash escapes undone, as the sqlcommenter specification asks
// (https://google.github.io/sqlcommenter/spec/).
type Tag struct {
	Key, Value string
}

// parseSQLCommenter appends the tags of a comment body (the bytes between
// "/*" and "*/") to tags when the whole body is a sqlcommenter list:
//
//	key='value',key2='value2'
//
// Keys are URL-encoded and contain no '=', ',', quote or space; values are
// URL-encoded, single-quoted, with '\' escaping the next byte. Blanks around
// the list and around the commas are tolerated. Anything else means the
// comment is an ordinary comment and yields no tag, so free text such as
// "/* a=b */" is never misread. Nothing is allocated unless tags are found.
func parseSQLCommenter(body []byte, tags *[]Tag) {
	if !scanSQLCommenter(body, nil) {
		return
	}
	scanSQLCommenter(body, tags)
}

func scanSQLCommenter(b []byte, tags *[]Tag) bool {
	i := skipBlank(b, 0)
	if i == len(b) {
		return false
	}
	for {
		ks := i
		for i < len(b) && b[i] != '=' && b[i] != ',' && b[i] != '\'' && b[i] > ' ' {
			i++
		}
		if i == ks || i >= len(b) || b[i] != '=' {
			return false
		}
		key := b[ks:i]
		i++
		if i >= len(b) || b[i] != '\'' {
			return false
		}
		i++
		vs := i
		for i < len(b) && b[i] != '\'' {
			if b[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(b) {
			return false
		}
		val := b[vs:i]
		i++
		if tags != nil {
			*tags = append(*tags, Tag{Key: decodeTag(key, false), Value: decodeTag(val, true)})
		}
		i = skipBlank(b, i)
		if i == len(b) {
			return true
		}
		if b[i] != ',' {
			return false
		}
		i = skipBlank(b, i+1)
	}
}

func skipBlank(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// decodeTag undoes backslash escapes (values only) and then percent-encoding.
// A '%' not followed by two hex digits is kept as it is, and '+' stays '+'
// (sqlcommenter encodes a space as %20).
func decodeTag(s []byte, unescape bool) string {
	if bytes.IndexByte(s, '%') < 0 && (!unescape || bytes.IndexByte(s, '\\') < 0) {
		return string(s)
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if unescape && s[i] == '\\' && i+1 < len(s) {
			i++
		}
		out = append(out, s[i])
	}
	w := 0
	for r := 0; r < len(out); r++ {
		c := out[r]
		if c == '%' && r+2 < len(out) && isHex(out[r+1]) && isHex(out[r+2]) {
			c = unhex(out[r+1])<<4 | unhex(out[r+2])
			r += 2
		}
		out[w] = c
		w++
	}
	return string(out[:w])
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
