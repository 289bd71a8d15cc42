// Package capture analyses recorded traffic: it reads pcap and pcapng files
// (as written by tcpdump, dumpcap or Wireshark), picks the TCP connections
// to MySQL/MariaDB servers, reassembles each direction of each connection
// and feeds the two byte streams to one protocol.Session per connection,
// the same decoder the live proxy uses. The events go to a handler, usually
// a stats.Engine, so `querylens analyze` gives the statistics the proxy
// would have given for the same traffic.
//
// # Reading
//
// Files are read with github.com/gopacket/gopacket/pcapgo (pcap, gzipped
// pcap, pcapng with any mix of interfaces) and decoded with gopacket's
// layers (Ethernet, 802.1Q, Linux cooked v1 and v2, BSD loopback, raw IP,
// IPv4, IPv6, TCP) through DecodingLayerParsers that reuse their layers,
// so reading allocates nothing per packet. No cgo is involved. A file that
// ends inside a packet is reported (ErrTruncated); everything before that
// packet has been analysed.
//
// # Flows
//
// A TCP connection belongs to a server when one end matches
// Config.Servers (an address and port, or an address with any of
// Config.Ports) or, without Servers, when one end uses one of Config.Ports
// (3306 by default). That end is the server, the other the client.
//
// # Reassembly
//
// Each direction has its own small reassembler (reassembly.go): it
// delivers payload in sequence order, drops retransmitted bytes, trims
// overlaps and holds out-of-order segments (copies) up to
// Config.MaxBufferedBytes per direction. Bytes that never arrive make a
// gap: the buffer overflowing, the connection closing with a hole, a
// truncated packet, or the peer acknowledging bytes the capture never saw.
// A gap desynchronises that connection only: its session is closed (the
// commands in flight are emitted as incomplete), the gap is counted, and
// decoding resumes at the next command boundary as for a connection joined
// mid-stream. gopacket's reassembly package was not used: its page cache
// and its assembler-wide flushing policy make per-direction memory bounds
// and per-connection gap accounting harder to state than this few-hundred
// line reassembler, which only ever needs in-order delivery of one stream.
//
// # Connections joined mid-stream
//
// A connection whose SYN is in the capture is decoded from the server's
// greeting. Otherwise the client's stream is skipped until its segments
// hold exactly one or more whole client packets with sequence id 0 that
// start a known command (or one compressed frame holding such packets);
// server bytes before that are dropped, and a session starts with that
// command (protocol.NewMidstreamSession). What the handshake would have
// said is unknown: user, schema (until a USE or session tracking names
// one), connection id, server flavor, and the statements prepared before.
// The capabilities that shape the wire are inferred from the first packets
// (probe.go): CLIENT_DEPRECATE_EOF from how the first column definitions
// end (an EOF packet of 5 bytes, or an OK or a row), a metadata_follows
// byte from the length of the first column count, CLIENT_QUERY_ATTRIBUTES
// from the first COM_QUERY. The bytes seen while deciding (at most 64 KiB
// per connection, 64 MiB for all) are then replayed. Compressed
// connections joined mid-stream are assumed to use CLIENT_DEPRECATE_EOF,
// as every current client does. After a gap or a desync, a connection
// resumes the same way but keeps what its earlier session knew.
//
// TLS connections are recognised (an SSLRequest in the handshake, or TLS
// records mid-stream), counted in Stats.TLSConns and not decoded.
//
// # Memory
//
// Memory is bounded by the number of open connections, not by the size of
// a file: a connection holds its session (whose memory protocol bounds),
// at most Config.MaxBufferedBytes of out-of-order segments per direction
// and, while its capabilities are probed, at most 64 KiB of replay.
// Connections are kept in order of their last packet, so ending idle ones
// and the least recently active one costs nothing per packet.
// Connections end on RST, on FIN from both sides, after Config.IdleTimeout
// of capture time without a packet, and when Config.MaxConns is reached
// (the least recently active one goes).
//
// # Time
//
// Every time comes from the capture: events carry packet timestamps and
// Analyzer.Now returns the timestamp of the latest packet read, for a
// stats.Engine's clock. Nothing reads the wall clock.
//
// # Concurrency
//
// An Analyzer is used by one goroutine: Read and Close call the handler
// synchronously. Now, Stats and BytesRead are safe to call from other
// goroutines (a progress bar, an engine's clock).
package capture
