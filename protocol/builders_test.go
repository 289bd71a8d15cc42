package protocol_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/querylens/querylens/protocol"
)

// Packet builders for hand-made protocol tests. Captured bytes are in
// testdata/frames; these cover what the harness server cannot produce
// (MySQL-only features, TLS, hostile input).

const (
	mariaDBCaps = protocol.CapLongFlag | protocol.CapConnectWithDB | protocol.CapLocalFiles |
		protocol.CapProtocol41 | protocol.CapTransactions | protocol.CapSecureConnection |
		protocol.CapMultiStatements | protocol.CapMultiResults | protocol.CapPSMultiResults |
		protocol.CapPluginAuth | protocol.CapConnectAttrs | protocol.CapPluginAuthLenenc |
		protocol.CapSessionTrack | protocol.CapDeprecateEOF |
		protocol.CapMariaDBProgress | protocol.CapMariaDBStmtBulk | protocol.CapMariaDBExtMetadata |
		protocol.CapMariaDBCacheMetadata
	mysqlCaps = protocol.CapLongPassword | protocol.CapLongFlag | protocol.CapConnectWithDB |
		protocol.CapLocalFiles | protocol.CapProtocol41 | protocol.CapTransactions |
		protocol.CapSecureConnection | protocol.CapMultiStatements | protocol.CapMultiResults |
		protocol.CapPSMultiResults | protocol.CapPluginAuth | protocol.CapConnectAttrs |
		protocol.CapPluginAuthLenenc | protocol.CapSessionTrack | protocol.CapDeprecateEOF |
		protocol.CapCompress | protocol.CapSSL | protocol.CapOptionalResultsetMetadata |
		protocol.CapZstdCompression | protocol.CapQueryAttributes | protocol.CapMultiFactorAuth
)

// packet frames payload with seq; payloads of 0xFFFFFF bytes or more are
// split, with an empty closing packet when needed.
func packet(seq byte, payload []byte) []byte {
	var out []byte
	for {
		n := min(len(payload), protocol.MaxPacketPayload)
		out = append(out, byte(n), byte(n>>8), byte(n>>16), seq)
		out = append(out, payload[:n]...)
		payload = payload[n:]
		seq++
		if n < protocol.MaxPacketPayload {
			return out
		}
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func greetingPayload(version string, caps protocol.CapabilityFlag, plugin string) []byte {
	b := []byte{0x0A}
	b = append(b, version...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 42) // connection id
	b = append(b, "abcdefgh"...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps))
	b = append(b, 45)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps>>16))
	b = append(b, 21)
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(caps>>32))
	b = append(b, "ijklmnopqrst"...)
	b = append(b, 0)
	b = append(b, plugin...)
	return append(b, 0)
}

func responsePayload(caps protocol.CapabilityFlag, user, schema, plugin string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(caps))
	b = binary.LittleEndian.AppendUint32(b, 1<<24)
	b = append(b, 45)
	b = append(b, make([]byte, 19)...)
	b = binary.LittleEndian.AppendUint32(b, uint32(caps>>32))
	b = append(b, user...)
	b = append(b, 0)
	b = append(b, 20)
	b = append(b, "0123456789abcdefghij"...) // "auth data"
	if caps&protocol.CapConnectWithDB != 0 {
		b = append(b, schema...)
		b = append(b, 0)
	}
	b = append(b, plugin...)
	b = append(b, 0)
	if caps&protocol.CapConnectAttrs != 0 {
		b = append(b, 14, 12)
		b = append(b, "_client_name"...)
		b = append(b, 0)
	}
	return b
}

// okPayload builds an OK packet (header 0x00 or 0xFE).
func okPayload(header byte, affected, insertID uint64, status protocol.StatusFlag, warnings uint16) []byte {
	b := []byte{header, byte(affected), byte(insertID)}
	b = binary.LittleEndian.AppendUint16(b, uint16(status))
	return binary.LittleEndian.AppendUint16(b, warnings)
}

func eofPayload(warnings uint16, status protocol.StatusFlag) []byte {
	b := binary.LittleEndian.AppendUint16([]byte{0xFE}, warnings)
	return binary.LittleEndian.AppendUint16(b, uint16(status))
}

func errPayload(code uint16, state, msg string) []byte {
	return protocol.AppendErrPacket(nil, 0, code, state, msg)[4:]
}

func colDef(name string) []byte {
	b := []byte{3, 'd', 'e', 'f', 0, 0, 0}
	b = append(b, byte(len(name)))
	b = append(b, name...)
	b = append(b, 0, 0x0c, 0x3f, 0, 1, 0, 0, 0, 0x03, 0x81, 0, 0, 0, 0)
	return b
}

// prepareOK builds a PREPARE_OK packet.
func prepareOK(id uint32, cols, params uint16) []byte {
	b := binary.LittleEndian.AppendUint32([]byte{0}, id)
	b = binary.LittleEndian.AppendUint16(b, cols)
	b = binary.LittleEndian.AppendUint16(b, params)
	return append(b, 0, 0, 0)
}

func query(sql string) []byte { return append([]byte{byte(protocol.ComQuery)}, sql...) }

// feeder drives a Session with hand-made packets, one Feed per call, the
// clock advancing 1ms per call.
type feeder struct {
	t   *testing.T
	s   *protocol.Session
	evs []*protocol.Event
	now time.Time
}

func newFeeder(t *testing.T, cfg protocol.SessionConfig) *feeder {
	f := &feeder{t: t, now: base}
	cfg.Handler = func(e *protocol.Event) { f.evs = append(f.evs, e) }
	f.s = protocol.NewSession(cfg)
	return f
}

func (f *feeder) client(b ...[]byte) *feeder {
	f.now = f.now.Add(time.Millisecond)
	f.s.Feed(protocol.FromClient, cat(b...), f.now)
	return f
}

func (f *feeder) server(b ...[]byte) *feeder {
	f.now = f.now.Add(time.Millisecond)
	f.s.Feed(protocol.FromServer, cat(b...), f.now)
	return f
}

// login runs a handshake: server and client capabilities, then an OK.
func (f *feeder) login(server, client protocol.CapabilityFlag, version string) *feeder {
	f.server(packet(0, greetingPayload(version, server, "mysql_native_password")))
	f.client(packet(1, responsePayload(client&server, "app", "shop", "mysql_native_password")))
	f.server(packet(2, okPayload(0, 0, 0, protocol.StatusAutocommit, 0)))
	if f.s.Info().Phase != protocol.PhaseCommand {
		f.t.Fatalf("login did not reach the command phase: %v %v", f.s.Info().Phase, f.s.Err())
	}
	return f
}

func (f *feeder) loginMariaDB() *feeder {
	return f.login(mariaDBCaps, mariaDBCaps, "5.5.5-10.11.9-MariaDB")
}

// loginMySQL logs in as a MySQL 8 client that negotiates everything but
// compression.
func (f *feeder) loginMySQL() *feeder {
	return f.login(mysqlCaps, mysqlCaps&^(protocol.CapCompress|protocol.CapZstdCompression|protocol.CapSSL), "8.4.3")
}

func (f *feeder) formatted() []string { return formatEvents(f.evs) }

// zlibFrame builds a compressed-protocol frame holding body, compressed.
func zlibFrame(seq byte, body []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(body)
	w.Close()
	h := []byte{byte(z.Len()), byte(z.Len() >> 8), byte(z.Len() >> 16), seq,
		byte(len(body)), byte(len(body) >> 8), byte(len(body) >> 16)}
	return append(h, z.Bytes()...)
}

// rawFrame builds a compressed-protocol frame holding body uncompressed.
func rawFrame(seq byte, body []byte) []byte {
	h := []byte{byte(len(body)), byte(len(body) >> 8), byte(len(body) >> 16), seq, 0, 0, 0}
	return append(h, body...)
}

// zstdFrame builds a compressed-protocol frame holding body, zstd-compressed.
func zstdFrame(t testing.TB, seq byte, body []byte) []byte {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	z := enc.EncodeAll(body, nil)
	enc.Close()
	h := []byte{byte(len(z)), byte(len(z) >> 8), byte(len(z) >> 16), seq,
		byte(len(body)), byte(len(body) >> 8), byte(len(body) >> 16)}
	return append(h, z...)
}
