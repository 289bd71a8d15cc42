package protocol_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/querylens/querylens/protocol"
)

// loggedIn returns a session past a MariaDB login (DEPRECATE_EOF,
// CACHE_METADATA) whose events are discarded.
func loggedIn(tb testing.TB) *protocol.Session {
	s := protocol.NewSession(protocol.SessionConfig{Handler: func(*protocol.Event) {}})
	s.Feed(protocol.FromServer, packet(0, greetingPayload("5.5.5-10.11.9-MariaDB", mariaDBCaps, "mysql_native_password")), base)
	s.Feed(protocol.FromClient, packet(1, responsePayload(mariaDBCaps, "app", "shop", "mysql_native_password")), base)
	s.Feed(protocol.FromServer, packet(2, okPayload(0, 0, 0, 2, 0)), base)
	if s.Info().Phase != protocol.PhaseCommand {
		tb.Fatalf("login failed: %v", s.Err())
	}
	return s
}

// textRows returns n text rows of three columns, about 60 bytes each, as
// packets with sequence ids from seq.
func textRows(n int, seq byte) []byte {
	var b []byte
	for i := range n {
		v1 := fmt.Sprint(i)
		v2 := fmt.Sprintf("user-%08d@example.com", i)
		v3 := "2025-01-02 03:04:05.000000"
		row := []byte{byte(len(v1))}
		row = append(row, v1...)
		row = append(row, byte(len(v2)))
		row = append(row, v2...)
		row = append(row, byte(len(v3)))
		row = append(row, v3...)
		b = append(b, packet(seq, row)...)
		seq++
	}
	return b
}

// feedChunks feeds data in chunks of size n, as a relay reading n bytes at a
// time would.
func feedChunks(s *protocol.Session, dir protocol.Direction, data []byte, n int, now time.Time) {
	for len(data) > 0 {
		k := min(n, len(data))
		s.Feed(dir, data[:k], now)
		data = data[k:]
	}
}

// Steady-state feeding of result-set rows allocates nothing, whether packets
// sit whole in a chunk or straddle chunk boundaries.
func TestFeedRowsAllocatesNothing(t *testing.T) {
	s := loggedIn(t)
	s.Feed(protocol.FromClient, packet(0, query("SELECT * FROM users")), base)
	s.Feed(protocol.FromServer, cat(packet(1, []byte{3}), packet(2, colDef("id")), packet(3, colDef("email")), packet(4, colDef("created"))), base)
	rows := textRows(1000, 5)
	for _, chunk := range []int{len(rows), 16 << 10, 1000, 37, 1} {
		feedChunks(s, protocol.FromServer, rows, chunk, base) // warm up the buffers
		allocs := testing.AllocsPerRun(20, func() { feedChunks(s, protocol.FromServer, rows, chunk, base) })
		if allocs != 0 {
			t.Errorf("chunks of %d bytes: %v allocations per run of 1000 rows, want 0", chunk, allocs)
		}
	}
	if s.Err() != nil || s.InFlight() != 1 {
		t.Fatalf("session state: %v, in flight %d", s.Err(), s.InFlight())
	}
}

// A command costs its Event and one copy of its SQL.
func TestQueryRoundTripAllocations(t *testing.T) {
	s := loggedIn(t)
	q := packet(0, query("SELECT id FROM users WHERE email = 'a@example.com'"))
	ok := packet(1, okPayload(0, 0, 0, 2, 0))
	allocs := testing.AllocsPerRun(100, func() {
		s.Feed(protocol.FromClient, q, base)
		s.Feed(protocol.FromServer, ok, base)
	})
	if allocs > 2 {
		t.Errorf("%v allocations per command, want at most 2 (Event + SQL)", allocs)
	}
}

// BenchmarkFeedRows feeds one COM_QUERY and a 10,000-row text result in
// 16 KiB chunks (a relay's read size).
func BenchmarkFeedRows(b *testing.B) {
	s := loggedIn(b)
	q := packet(0, query("SELECT id, email, created FROM users"))
	resp := cat(packet(1, []byte{3}), packet(2, colDef("id")), packet(3, colDef("email")), packet(4, colDef("created")),
		textRows(10000, 5), packet(byte((5+10000)%256), okPayload(0xFE, 0, 0, 2, 0)))
	b.SetBytes(int64(len(resp)))
	b.ReportAllocs()
	for b.Loop() {
		s.Feed(protocol.FromClient, q, base)
		feedChunks(s, protocol.FromServer, resp, 16<<10, base)
	}
	if s.Err() != nil || s.InFlight() != 0 {
		b.Fatalf("session state: %v, in flight %d", s.Err(), s.InFlight())
	}
}

// BenchmarkFeedQueryRoundTrip feeds one small COM_QUERY and its OK.
func BenchmarkFeedQueryRoundTrip(b *testing.B) {
	s := loggedIn(b)
	q := packet(0, query("UPDATE users SET seen = NOW() WHERE id = 42"))
	ok := packet(1, okPayload(0, 1, 0, 2, 0))
	b.ReportAllocs()
	for b.Loop() {
		s.Feed(protocol.FromClient, q, base)
		s.Feed(protocol.FromServer, ok, base)
	}
}

// BenchmarkFeedUpload feeds a LOCAL INFILE upload: client packets that are
// framed and counted, never kept.
func BenchmarkFeedUpload(b *testing.B) {
	s := loggedIn(b)
	s.Feed(protocol.FromClient, packet(0, query("LOAD DATA LOCAL INFILE 'x' INTO TABLE t")), base)
	s.Feed(protocol.FromServer, packet(1, []byte("\xFBx")), base)
	var data []byte
	for i := range 64 {
		data = append(data, packet(byte(i), make([]byte, 16<<10))...)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		feedChunks(s, protocol.FromClient, data, 64<<10, base)
	}
}
