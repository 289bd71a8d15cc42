// Package demo is what `querylens demo` runs besides the proxy: an
// embedded MySQL-compatible server and a small application that queries it
// through the proxy, so that querylens can be seen at work on a machine
// without any database installed.
//
// # The server
//
// NewServer starts github.com/dolthub/go-mysql-server in this process, pure
// Go, with its in-memory storage: one database, Database, holding a small
// blog (users, posts, comments), seeded with the same rows on every start.
// It listens on 127.0.0.1 on a port the kernel picks and accepts any user
// name without a password (it has no accounts). Nothing is written to disk;
// Close ends it and its data. go-mysql-server logs through logrus's
// standard logger with the text of failing queries; NewServer discards that
// log, so no literal value of the workload reaches the terminal.
//
// That storage has no isolation between sessions: each statement's commit
// writes back every table it read, so a SELECT overlapping another
// session's commit would undo it. The server therefore runs statements that
// only read (SELECT, SHOW, DESCRIBE, EXPLAIN) side by side and every other
// command alone. Transactions that several clients interleave can still
// overwrite each other's changes.
//
// # The workload
//
// Run plays the blog's pages one after another, with a pause of
// WorkloadConfig.PauseMin..PauseMax between pages (each page is then a
// unit of work of its own), over go-sql-driver connections to the address
// it is given (the proxy's): everything querylens shows was decoded from
// the wire. The pages carry the patterns
// querylens looks for, next to ordinary well-written queries:
//
//   - the home page lists PageSize posts, then asks for the comment count
//     of each listed post, one SELECT per row, back to back (an N+1 loop);
//   - the post page loads the signed-in user three times (a repeated read),
//     with prepared statements that go-sql-driver prepares, executes and
//     closes for each query (prepare per execute), then the post and its
//     comments with one join each;
//   - the comment form inserts a comment and bumps the post's counter in a
//     transaction;
//   - the search page runs a LIKE query, and every few searches a query on
//     a table that does not exist (error 1146);
//   - the sign-up form, every few rounds, inserts a user whose id is taken
//     (error 1062);
//   - a health check opens a connection per query (connection churn).
//
// Comments added by the workload are trimmed to the newest few hundred, so
// the database does not grow however long the demo runs.
//
// # Dependencies
//
// go-mysql-server is large: it adds about 51 MiB to the querylens binary
// (see the README). Only cmd/querylens imports this package, and only in
// builds without the nodemo tag; protocol, proxy, fingerprint, stats,
// report and capture never reach it (TestLinkedOnlyWhereUsed).
//
// Its REGEXP functions would bring ICU compiled to WebAssembly, compiled
// again at every start of every querylens process; go.mod replaces that
// module (github.com/dolthub/go-icu-regex) with internal/icuregex, built on
// Go's regexp. The server's REGEXP, REGEXP_LIKE, REGEXP_INSTR,
// REGEXP_SUBSTR and REGEXP_REPLACE therefore take RE2 syntax: no
// backreferences, no lookaround (see that package's documentation).
package demo
