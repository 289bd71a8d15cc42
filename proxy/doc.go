// Package proxy relays MySQL/MariaDB connections between clients and one
// upstream server and feeds a copy of every relayed chunk to a
// protocol.Session, whose events go to a Sink.
//
// # Invariants
//
// The relay is sacred: bytes reach the other side unchanged and in order,
// whether or not the decoder understands them. The decoder runs on the same
// goroutine as the pump that read the bytes, but it only ever does bounded,
// CPU-only work (it copies capped prefixes and never blocks), a panic in it is
// recovered and turns decoding off for that connection only, and a decode
// error never closes a connection.
//
// Each chunk is fed to the session before it is written to the other side.
// That order is what makes the decoder's view causal: a response can only be
// read after its request was written, so the session always sees a request
// before its response, and a greeting before the client's answer to it. The
// cost is the decoder's per-chunk CPU time (well under a microsecond for
// typical frames) added to relay latency.
//
// # Concurrency
//
// Server mirrors net/http.Server: Serve runs an accept loop per listener,
// Shutdown stops accepting and closes connections as they become idle
// (no command in flight), Close closes everything at once. A connection's
// goroutine dials the upstream and takes part in the login; then, on Linux
// and without TLS, it hands both sockets to one of a few event loops (see
// loop_linux.go; one per P by default, each adding a P of its own, as a
// busy loop waits holding one; each relays through an io_uring, see
// loop_uring_linux.go, or with epoll where io_uring is not usable), and
// otherwise
// starts two pump goroutines (clientToServer, serverToClient). Either way
// the first direction to end closes both sockets, except that a client's
// clean EOF only half-closes the upstream so a response in flight still
// reaches the client. Both read once per chunk: a short read says the
// socket is drained, so neither reads again only to see EAGAIN.
//
// Sink.Observe is called from the loops and pumps and must not block.
//
// # Faults and limits
//
// Every fault ends the affected connection only. A client that cannot be
// served gets a MySQL error through a greeting of the proxy's own (libmariadb
// rejects an ERR in place of the greeting): 1105/08001 naming the upstream
// when it refuses, does not answer within DialTimeout, or sends no complete
// greeting within HandshakeTimeout; 1040/08004 "Too many connections" beyond
// MaxConnections, which the accept loop answers on a goroutine of its own
// (at most 64 at once; further clients are just closed) and counts in
// querylens_connections_rejected_total. Once bytes of the server have reached
// the client nothing is injected: a server that dies mid-result or
// mid-LOAD DATA closes the client, which sees its driver's connection error,
// and the close is logged at info level with the commands in flight.
//
// Memory per connection is fixed: its goroutine, a chunk the peer could not
// take yet (at most Config.BufferSize per direction; epoll loops share one
// read buffer each, io_uring loops a ring of 128 such buffers that receives
// take from as data arrives and sends give back, and a 2 KiB copy per
// direction for the small chunks whose sends are linked to the next
// receive) or two pump buffers growing from 4 KiB to Config.BufferSize,
// and the session's capped copies. A direction whose chunk is not written
// yet reads nothing more from its source, so TCP flow control pushes back
// on the sender: a client that stops reading stops the server, not grows
// the proxy.
//
// Accept errors (such as EMFILE) are backed off from 5ms to 1s, counted,
// and logged on the 1st, 2nd, 4th, 8th... error in a row and at least once
// a minute while they last.
package proxy
