package protocol_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/protocol"
)

// midstream returns a feeder whose session starts in the command phase.
func midstream(t *testing.T, m protocol.Midstream) *feeder {
	f := &feeder{t: t, now: base}
	f.s = protocol.NewMidstreamSession(protocol.SessionConfig{
		ClientAddr: "10.0.0.9:5000",
		Handler:    func(e *protocol.Event) { f.evs = append(f.evs, e) },
	}, m)
	return f
}

func TestMidstreamSession(t *testing.T) {
	rows := func(seq byte, n int) [][]byte {
		var out [][]byte
		for i := range n {
			out = append(out, packet(seq+byte(i), []byte("\x011\x03abc")))
		}
		return out
	}
	t.Run("deprecate eof", func(t *testing.T) {
		f := midstream(t, protocol.Midstream{Caps: mariaDBCaps &^ protocol.CapMariaDBCacheMetadata, User: "app", Schema: "shop", ConnID: 42})
		info := f.s.Info()
		assert.Equal(t, protocol.PhaseCommand, info.Phase)
		assert.Equal(t, "app", info.User)
		f.client(packet(0, query("SELECT a, b FROM t")))
		f.server(cat(append([][]byte{packet(1, []byte{2}), packet(2, colDef("a")), packet(3, colDef("b"))},
			append(rows(4, 3), packet(7, okPayload(0xFE, 0, 0, protocol.StatusAutocommit, 0)))...)...))
		f.client(packet(0, query("UPDATE t SET a = 1")))
		f.server(packet(1, okPayload(0, 5, 0, protocol.StatusAutocommit, 0)))
		require.Len(t, f.evs, 2, "no connect event: the login was not seen")
		q := f.evs[0]
		assert.Equal(t, protocol.ComQuery, q.Command)
		assert.Equal(t, "SELECT a, b FROM t", q.SQL)
		assert.Equal(t, uint64(3), q.RowsSent)
		assert.Equal(t, "app", q.User)
		assert.Equal(t, "shop", q.Schema)
		assert.Equal(t, uint32(42), q.ConnID)
		assert.Equal(t, "10.0.0.9:5000", q.ClientAddr)
		assert.False(t, q.Incomplete)
		assert.Equal(t, time.Millisecond, q.Latency(), "from the packet times fed")
		assert.Equal(t, uint64(5), f.evs[1].RowsAffected)
		assert.NoError(t, f.s.Err())
	})
	t.Run("eof packets", func(t *testing.T) {
		f := midstream(t, protocol.Midstream{Caps: mariaDBCaps &^ (protocol.CapDeprecateEOF | protocol.CapMariaDBCacheMetadata)})
		f.client(packet(0, query("SELECT a FROM t")))
		f.server(cat(append([][]byte{packet(1, []byte{1}), packet(2, colDef("a")), packet(3, eofPayload(0, protocol.StatusAutocommit))},
			append(rows(4, 2), packet(6, eofPayload(0, protocol.StatusAutocommit)))...)...))
		require.Len(t, f.evs, 1)
		assert.Equal(t, uint64(2), f.evs[0].RowsSent)
		assert.Empty(t, f.evs[0].User)
		assert.NoError(t, f.s.Err())
	})
	t.Run("compressed", func(t *testing.T) {
		f := midstream(t, protocol.Midstream{Caps: mariaDBCaps | protocol.CapCompress, Compression: protocol.CompressionZlib})
		f.client(zlibFrame(0, packet(0, query("SELECT 1"))))
		f.server(rawFrame(1, cat(packet(1, []byte{1}), packet(2, colDef("1")), packet(3, []byte("\x011")),
			packet(4, okPayload(0xFE, 0, 0, protocol.StatusAutocommit, 0)))))
		require.Len(t, f.evs, 1)
		assert.Equal(t, "SELECT 1", f.evs[0].SQL)
		assert.Equal(t, uint64(1), f.evs[0].RowsSent)
		assert.Equal(t, protocol.CompressionZlib, f.s.Info().Compression)
	})
	t.Run("statement prepared before", func(t *testing.T) {
		f := midstream(t, protocol.Midstream{Caps: mariaDBCaps &^ protocol.CapMariaDBCacheMetadata, Flavor: protocol.FlavorMariaDB})
		exec := []byte{byte(protocol.ComStmtExecute), 7, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 0, 1, 0, 0, 0}
		f.client(packet(0, exec))
		f.server(packet(1, []byte{1}), packet(2, colDef("a")), packet(3, []byte{0, 0, 1, 0, 0, 0}),
			packet(4, okPayload(0xFE, 0, 0, protocol.StatusAutocommit, 0)))
		require.Len(t, f.evs, 1)
		e := f.evs[0]
		assert.Equal(t, protocol.ComStmtExecute, e.Command)
		assert.Equal(t, uint32(7), e.StmtID)
		assert.Empty(t, e.SQL, "the PREPARE was not seen")
		assert.True(t, e.ParamsUndecodable)
		assert.Equal(t, uint64(1), e.RowsSent)
	})
}
