// Package regex stands in for github.com/dolthub/go-icu-regex, which
// go-mysql-server uses for REGEXP, REGEXP_LIKE, REGEXP_INSTR, REGEXP_SUBSTR
// and REGEXP_REPLACE. querylens's go.mod points that module path here with a
// replace directive; the package keeps the API go-mysql-server v0.20.0 calls
// and implements it on Go's regexp package (RE2).
//
// # Why
//
// The original runs ICU compiled to WebAssembly in wazero, and compiles that
// module in a package-level variable, so every querylens process paid for
// it at start, demo or not: about 0.3 s of CPU and 20 MB more resident
// memory for a proxy daemon that never evaluates a REGEXP. Only the
// embedded demo server calls these functions, and it can do without ICU's
// exact dialect.
//
// # What changes for the demo
//
// Patterns follow RE2 syntax (https://github.com/google/re2/wiki/Syntax)
// instead of ICU's. Patterns RE2 lacks the constructs for fail with an
// error rather than match differently: backreferences (\1 to \9, which
// are rejected here because RE2 would read \10 as an octal code),
// lookahead and lookbehind, atomic groups, possessive quantifiers, \Z,
// inline comments (?#...) and the inline (?x). Other differences:
//
//   - \w, \d, \s, \b and POSIX classes such as [[:alpha:]] are ASCII-only in
//     RE2 and Unicode-aware in ICU; \pL, \p{Nd} and the like work in both.
//   - Only \n ends a line. ICU also treats \r, \r\n, U+0085, U+2028 and
//     U+2029 as line ends unless RegexFlags_Unix_Lines is set, so that flag
//     is exact and its absence is approximated.
//   - Without RegexFlags_Multiline, $ matches only at the very end of the
//     text; ICU's also matches before a line end that ends the text. With
//     it, ^ also matches at the very end of a text ending in \n; ICU's
//     does not.
//   - Case-insensitive matching uses simple case folding, not full folding.
//
// Positions, as in MySQL, count characters (code points); the original
// counted UTF-16 units, which differs after a character outside the Basic
// Multilingual Plane. Matches are found the way ICU finds them: a search
// from a position sees the text before it (so ^ does not match there and \b
// looks at the preceding character), and after a non-empty match an empty
// match may follow at its end (REGEXP_REPLACE('baaac', 'a*', 'X') is
// 'XbXXcX', where Go's ReplaceAllString gives 'XbXcX').
//
// Replacement strings keep ICU's syntax: $n and ${name} insert a group,
// a backslash makes the next character literal, \uhhhh and \Uhhhhhhhh
// insert a character. Two errors the original swallowed are reported, as
// MySQL reports them: a reference to a group the pattern lacks (the
// original cut the result short), and a REGEXP_REPLACE position past the
// end of a text with multi-byte characters (the original returned an
// empty string).
package regex
