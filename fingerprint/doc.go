// Package fingerprint turns SQL statements into fingerprints: a normalized
// text with the literals taken out, a stable 64-bit digest of it, and the
// sqlcommenter tags the application attached. It also describes a statement
// (kind, tables) with the TiDB parser, once per digest.
//
// The rules (RuleVersion "ql1"), in short:
//
//   - One pass over the bytes, no regular expressions, no allocation
//     (Normalize). It never fails and never panics; an unterminated string,
//     quoted identifier or comment swallows the rest of the input, so no
//     literal can leak out of one.
//   - Literals become '?': numbers (1, 1.5e-3, .5), strings in single or
//     double quotes (backslash escapes and doubled quotes), X'..', 0x..,
//     B'..', 0b.., N'..', charset-introduced strings (_utf8mb4'..'; the
//     introducer is dropped; "_binary ?" keeps it), NULL, TRUE, FALSE and
//     client '?' placeholders.
//     A unary sign in front of a literal (after an operator, '(', ',', a
//     reserved word or the start) folds into it: "id = -1" is "id = ?", while
//     "a - 1" and "a-1" stay "a - ?".
//   - An integer that is a whole item of an ORDER BY or GROUP BY list is an
//     ordinal and stays as it is ("order by 1"); LIMIT keeps its form
//     ("limit ?, ?" and "limit ? offset ?" differ).
//   - A parenthesized list of only literals, of any length including one,
//     becomes the marker "(...)": "in (...)", "values (...)", "char(...)".
//     A plain group (not a call's argument list) whose items are literals or
//     calls of literals, such as NOW() or UUID_TO_BIN(?), collapses too, so
//     VALUES rows with expressions collapse. A plain group equal to the
//     group right before it (", " apart) is dropped when both are VALUES rows
//     or items of an enclosing group: multi-row VALUES give one row and tuple
//     IN lists give one tuple ("in ((...))"). UNION branches and OR chains are
//     kept.
//   - Comments are dropped (/* */, "-- " with a blank or control byte after
//     the dashes, '#', optimizer hints /*+ */). Executable comments /*!NNNNN
//     ... */ and MariaDB's /*M!NNNNNN ... */ keep their contents as tokens
//     (the version digits are dropped). A /* */ comment whose whole body is
//     a sqlcommenter list (key='value',key2='value2', URL-encoded) becomes
//     Tags, in order of appearance, duplicates kept.
//   - ASCII outside literals is lower-cased, backticks are dropped (kept
//     only where the bare name would read differently: reserved words,
//     names with spaces or symbols, names starting with a digit), tokens are
//     written with canonical spacing ("f(a, b)", "t.col", "a = ?",
//     "in (...)", "insert into t(a) values (...)"), a trailing ';' goes,
//     and a multi-statement string stays one fingerprint with "; " between.
//   - Identifiers keep their digits (t1, orders_2024_01). USE db, SET @name
//     and CALL name(...) keep their names. Bytes >= 0x80, valid UTF-8 or not,
//     pass through unchanged.
//
// Normalization is idempotent, with no known exception: Normalize of a
// normalized text returns the same text, and FuzzNormalize checks it. The
// output is its own input language: "(...)" reads back as a literal list, and
// backticks stay wherever dropping them would change how a word reads back.
// Corners worth knowing: groups nested deeper than 32 levels are written as
// they are (not collapsed); the version of an executable comment is dropped,
// so its content reads as if the comment were not there; a word right after
// a qualifier dot is always an identifier (t.select, t.null, t.1); strings
// follow MySQL's default sql_mode (backslash escapes on, ANSI_QUOTES off);
// in account names ('bob'@'host') the host is a literal too ("? @ ?").
//
// # Digests
//
// Digest is xxhash64 over RuleVersion followed by the whole normalized text,
// even when Fingerprint.Text is cut for display (Config.MaxText). Input
// longer than Config.MaxInput is fingerprinted by its prefix and flagged
// Truncated. Digests from the server's own digest tables (MD5 over its token
// array) cannot be reproduced; join with them by text.
//
// # Deliberate differences from TiDB's parser.Normalize
//
// Statements that TiDB's Normalize(sql, "ON") groups together are grouped
// together here too (the differential test checks a corpus), except:
//
//   - TiDB turns any comma-separated run of literals into "...", also
//     outside parentheses and next to non-literals ("select 1, 2" and
//     "select 1, 2, 3"; "coalesce(a, 1, 2)" and "coalesce(a, 1, 2, 3)"). Here
//     only whole parenthesized lists collapse.
//   - TiDB rewrites "(*" as "(?", so count(*) and count(1) meet. Here
//     count(*) stays count(*) and count(1) is count(...).
//   - TiDB drops USE/FORCE/IGNORE INDEX(...) hints and reads STRAIGHT_JOIN as
//     JOIN. Both change plans, so they are kept here.
//   - TiDB drops MariaDB's /*M!...*/ executable comments; they are kept here.
//   - TiDB keeps an integer after "order by x, " only by looking back at
//     the previous tokens ("order by a + b, 1" becomes "?"); here every whole
//     ORDER BY / GROUP BY item that is an integer stays an ordinal. (TiDB
//     also keeps "order by 1 + a", which here is "order by ? + a".)
//
// In the other direction this package groups more: IN lists of any length
// including one (TiDB splits "in (?)" from "in (...)"), VALUES with any
// number of rows (also rows with NOW()), signs after every operator
// ("a <> -1" and "a <> 1"), TRUE/FALSE with other literals, and literals
// with and without a charset introducer all meet.
//
// # Describe
//
// Describe parses with github.com/pingcap/tidb/pkg/parser; this package is
// the only importer of that module in querylens and keeps its quirks (the
// value-expression driver import, parsers that are heavy and not safe for
// concurrent use, Normalize's redact argument in the tests) away from the
// rest. Parsing costs microseconds and dozens of allocations, so callers run
// it on a digest's first sighting only and cache the Info.
//
// # Concurrency and ownership
//
// Normalize, Describe, ParseDigest and the Digest methods are safe for
// concurrent use. A Fingerprinter is not: it reuses one buffer (capacity
// capped at 64 KiB between calls), so keep one per goroutine. Neither
// Normalize nor a Fingerprinter keeps the input; a Fingerprint owns its Text
// and Tags.
package fingerprint
