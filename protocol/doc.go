// Package protocol decodes the MySQL/MariaDB client/server protocol on the
// side of a relay: it watches a copy of the bytes a proxy (or a pcap reader)
// relays between a client and a server and turns them into one Event per
// command, with its SQL, timings, rows, affected rows, errors and bytes.
//
// The wire facts it relies on, with their sources, are in
// docs/protocol-notes.md (§ numbers in comments refer to it); each
// decoder cites the MySQL or MariaDB page of its message and the field
// widths.
//
// # Role
//
// A Session follows one connection: the greeting, the SSLRequest or the
// HandshakeResponse41, the authentication exchange (auth switches, more
// data, next factors), then the command phase. It keeps a FIFO of the
// commands in flight (clients pipeline), matches each server packet to the
// oldest one, and knows exactly where each response ends: OK, ERR, text and
// binary result sets with or without CLIENT_DEPRECATE_EOF, multi-results,
// LOCAL INFILE uploads, PREPARE_OK blocks, cursors and COM_STMT_FETCH,
// COM_CHANGE_USER re-authentication, MariaDB progress reports, and the
// commands that get no reply. Compressed connections (zlib, and MySQL's
// zstd) are inflated on the side. It emits a ComConnect Event when the login
// ends.
//
// It never touches a socket and imports only the standard library and
// github.com/klauspost/compress/zstd (deps_test.go enforces it).
//
// # Invariants
//
//   - Feed never panics and never blocks. On input it cannot decode, the
//     session records a *DecodeError (Err), emits the commands in flight as
//     Incomplete, moves to PhaseDesynced and from then on only counts bytes.
//     The relay is never affected. Connections that switch to TLS, use a
//     protocol variant not decoded here, or start a replication stream stop
//     decoding the same way, without an error.
//   - Memory is bounded: a session copies at most a capped prefix of each
//     logical packet (MaxSQLBytes plus 4 KiB from the client, 4 KiB from the
//     server) and only when the packet spans chunks; rows are counted from
//     their first byte and length, never copied. LOCAL INFILE contents,
//     SEND_LONG_DATA contents and auth data are never kept (copies made
//     while parsing a HandshakeResponse or COM_CHANGE_USER are zeroed). An
//     EXECUTE pipelined behind other commands keeps a copy of that prefix
//     until its response starts, within 1 MiB per session (beyond it its
//     parameters are not decoded). The statement table (with remembered
//     parameter types), the FIFO and the connection attributes have fixed
//     limits. The one exception is the compressed protocol, where a frame
//     body that spans chunks is collected whole (up to 16 MiB) before it is
//     inflated.
//   - Steady-state framing allocates nothing: per command, a session
//     allocates its Event (none when the handler releases events) and one
//     copy of its SQL. An EXECUTE or BULK_EXECUTE adds the boxing of its
//     dates, times and FLOATs into Param.Value: its Params, the bytes of
//     its string values (each cut to MaxParamBytes) and its other boxed
//     values (integers, doubles, string headers) are windows of slabs
//     shared by the session's events, written once and never again.
//   - Parameters are decoded when the EXECUTE's response starts, against
//     the statement table as the server had it then (§0, §12): a PREPARE,
//     CLOSE, SEND_LONG_DATA or RESET pipelined ahead of it has been applied,
//     and MariaDB's statement id 0xFFFFFFFF resolves to the last PREPARE
//     that succeeded before it. Values are read the way the server reads
//     them, which differs between MySQL and MariaDB (see Param).
//
// # Concurrency
//
// A Session is not safe for concurrent use: the caller serializes Feed,
// Close, Err, InFlight and Info (a proxy does this with one lock per
// connection, or by feeding from one goroutine). Feed must receive both
// directions in causal relay order: bytes read from one side before bytes
// the other side sent in reply. Handler runs synchronously inside Feed and
// Close and must not call back into the Session.
//
// # Buffer ownership
//
// The data passed to Feed is only read during the call: the caller may reuse
// its buffer as soon as Feed returns. Each Event passed to Handler is freshly
// allocated and owned by the Handler; its strings never alias caller memory.
// ConnInfo.Attrs is shared and must not be modified.
package protocol
