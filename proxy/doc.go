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
// (no command in flight), Close closes everything at once. Each connection
// has two pump goroutines (clientToServer, serverToClient); the first error
// closes both sockets, except that a client's clean EOF only half-closes the
// upstream so a response in flight still reaches the client.
//
// Sink.Observe is called from pump goroutines and must not block.
package proxy
