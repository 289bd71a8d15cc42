// Package stats aggregates protocol events per statement fingerprint and
// serves the results as immutable snapshots, Prometheus metrics and a JSON
// API.
//
// # What is aggregated
//
// Statements (events of ComQuery, ComStmtPrepare, ComStmtExecute and
// ComStmtBulkExecute whose Event.SQL holds the statement text) are
// fingerprinted and aggregated per (digest, default schema), as the server's
// own digest table does (see the fingerprint package). Each aggregate counts
// statements (split by command kind), errors (split by error code, bounded),
// incomplete responses (not errors), rows, warnings and bytes, keeps
// latency and time-to-first-byte histograms (see Histogram), first and last
// sighting, the users seen (bounded), the statement kind and tables from
// fingerprint.Describe (run once per new digest and cached), and the
// normalized text. The raw text of a statement, literals included, is kept
// only when Config.LogLiterals is set.
//
// Every event, statement or not (connect, ping, init_db, quit, stmt_close,
// ...), is counted by command kind. ComStmtClose, ComStmtReset,
// ComStmtFetch and ComStmtSendLongData carry their prepared statement's SQL
// too, but they do not run it, so they are counted only by command kind.
// A prepare and the executions of a statement share its aggregate;
// DigestStats.Commands tells them apart.
//
// # Bounded memory
//
// At most Config.MaxDigests (digest, schema) aggregates exist; statements of
// further keys fold into one overflow aggregate and are counted. Each
// aggregate's sets (error codes, users, tags) are capped, histograms have at
// most 214 buckets, and nothing is kept per literal value or per
// connection. The queue between Observe and the writer is bounded, and
// Observe drops (and counts) events rather than wait.
//
// # Concurrency
//
// One goroutine, Engine.Run, owns every mutable aggregate: there are no
// locks on the event path. Observe is a non-blocking channel send, safe from
// any goroutine (the proxy's pumps call it). Every PublishInterval, and on
// Flush, the writer publishes an immutable Snapshot through an atomic
// pointer; Engine.Snapshot, the Prometheus collector (NewCollector) and the
// HTTP handler (NewHandler) read only snapshots and never wait for the
// writer, except that the handler first asks for a Flush bounded by a short
// timeout. Aggregates that did not change since the last publication are
// shared between snapshots, so publishing costs in proportion to what
// changed (plus a sort of the keys).
//
// # Ownership
//
// Observe takes ownership of the *protocol.Event it is given; with
// Config.RecycleEvents the writer gives it back (protocol.ReleaseAll, in
// batches) once applied, so the producer must neither observe it twice nor read it
// afterwards (the proxy does neither). Snapshots and
// everything they point to are read-only for everyone; Merge builds new
// ones.
package stats
