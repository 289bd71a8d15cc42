package protocol_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/protocol"
)

func TestGreetingAndLogin(t *testing.T) {
	tests := []struct {
		name                  string
		server, client        protocol.CapabilityFlag
		version, wantVersion  string
		wantFlavor            protocol.Flavor
		wantCaps              protocol.CapabilityFlag
		wantServerHasExtended bool
	}{
		{
			name: "mariadb 10 with extended caps", server: mariaDBCaps, client: mariaDBCaps,
			version: "5.5.5-10.11.9-MariaDB-log", wantVersion: "10.11.9-MariaDB-log",
			wantFlavor: protocol.FlavorMariaDB, wantCaps: mariaDBCaps, wantServerHasExtended: true,
		},
		{
			name: "mariadb 11 without prefix", server: mariaDBCaps, client: mariaDBCaps &^ protocol.CapMariaDBProgress,
			version: "11.4.2-MariaDB", wantVersion: "11.4.2-MariaDB",
			wantFlavor: protocol.FlavorMariaDB, wantCaps: mariaDBCaps &^ protocol.CapMariaDBProgress, wantServerHasExtended: true,
		},
		{
			name: "mysql 8 client sets bits the server lacks", server: mysqlCaps &^ protocol.CapQueryAttributes,
			client: mysqlCaps, version: "8.0.22", wantVersion: "8.0.22",
			wantFlavor: protocol.FlavorMySQL, wantCaps: mysqlCaps &^ protocol.CapQueryAttributes,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeeder(t, protocol.SessionConfig{ClientAddr: "10.0.0.1:5"})
			f.server(packet(0, greetingPayload(tc.version, tc.server, "mysql_native_password")))
			assert.Equal(t, protocol.PhaseHandshake, f.s.Info().Phase)
			f.client(packet(1, responsePayload(tc.client, "app", "shop", "caching_sha2_password")))
			assert.Equal(t, protocol.PhaseAuth, f.s.Info().Phase)
			assert.Empty(t, f.evs)
			f.server(packet(2, okPayload(0, 0, 0, protocol.StatusAutocommit, 0)))
			info := f.s.Info()
			assert.Equal(t, protocol.PhaseCommand, info.Phase)
			assert.Equal(t, tc.wantVersion, info.ServerVersion)
			assert.Equal(t, tc.wantFlavor, info.Flavor)
			assert.Equal(t, tc.wantCaps, info.Caps)
			assert.Equal(t, tc.wantServerHasExtended, info.ServerCaps&^0xFFFFFFFF != 0)
			assert.Equal(t, uint32(42), info.ConnID)
			assert.Equal(t, "app", info.User)
			assert.Equal(t, "shop", info.Schema)
			assert.Equal(t, "caching_sha2_password", info.AuthPlugin)
			assert.Equal(t, []protocol.Attr{{Key: "_client_name", Value: ""}}, info.Attrs)
			require.Len(t, f.evs, 1)
			ev := f.evs[0]
			assert.Equal(t, protocol.ComConnect, ev.Command)
			assert.Equal(t, "10.0.0.1:5", ev.ClientAddr)
			assert.Equal(t, base.Add(time.Millisecond), ev.Sent)
			assert.Equal(t, base.Add(3*time.Millisecond), ev.End)
			assert.False(t, ev.Incomplete)
		})
	}
}

func TestLoginOutcomes(t *testing.T) {
	greet := packet(0, greetingPayload("8.4.3", mysqlCaps, "caching_sha2_password"))
	resp := packet(1, responsePayload(mysqlCaps&^(protocol.CapSSL|protocol.CapCompress|protocol.CapZstdCompression), "app", "", "caching_sha2_password"))
	tests := []struct {
		name   string
		feed   func(f *feeder)
		want   []string
		phase  protocol.Phase
		plugin string
	}{
		{
			name: "too many connections in place of the greeting",
			feed: func(f *feeder) {
				f.server(packet(0, errPayload(1040, "", "Too many connections")))
			},
			want:  []string{"connect user= schema= err=1040"},
			phase: protocol.PhaseClosed,
		},
		{
			name: "caching_sha2 fast auth",
			feed: func(f *feeder) {
				f.server(greet).client(resp)
				f.server(packet(2, []byte{0x01, 0x03}), packet(3, okPayload(0, 0, 0, 2, 0)))
			},
			want: []string{"connect user=app schema= results=1"}, phase: protocol.PhaseCommand,
			plugin: "caching_sha2_password",
		},
		{
			name: "caching_sha2 full auth with an RSA key exchange",
			feed: func(f *feeder) {
				f.server(greet).client(resp)
				f.server(packet(2, []byte{0x01, 0x04}))
				f.client(packet(3, []byte{0x02}))
				f.server(packet(4, append([]byte{0x01}, "-----BEGIN PUBLIC KEY-----"...)))
				f.client(packet(5, bytes.Repeat([]byte{0xAB}, 256)))
				f.server(packet(6, okPayload(0, 0, 0, 2, 0)))
			},
			want: []string{"connect user=app schema= results=1"}, phase: protocol.PhaseCommand,
			plugin: "caching_sha2_password",
		},
		{
			name: "auth switch with empty data, then a wrong password",
			feed: func(f *feeder) {
				f.server(greet).client(resp)
				f.server(packet(2, append([]byte{0xFE}, "mysql_clear_password\x00"...)))
				f.client(packet(3, []byte("secret\x00")))
				f.server(packet(4, errPayload(1045, "28000", "Access denied")))
			},
			want: []string{"connect user=app schema= err=1045"}, phase: protocol.PhaseClosed,
			plugin: "mysql_clear_password",
		},
		{
			name: "multi-factor: next factor request",
			feed: func(f *feeder) {
				f.server(greet).client(resp)
				f.server(packet(2, []byte{0x01, 0x03}))
				f.server(packet(3, append([]byte{0x02}, "authentication_fido_client\x00nonce"...)))
				f.client(packet(4, []byte("assertion")))
				f.server(packet(5, okPayload(0, 0, 0, 2, 0)))
			},
			want: []string{"connect user=app schema= results=1"}, phase: protocol.PhaseCommand,
			plugin: "authentication_fido_client",
		},
		{
			name: "the client hangs up during auth",
			feed: func(f *feeder) {
				f.server(greet).client(resp)
				f.server(packet(2, []byte{0x01, 0x04}))
				f.s.Close(f.now)
			},
			want: []string{"connect user=app schema= incomplete"}, phase: protocol.PhaseClosed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeeder(t, protocol.SessionConfig{})
			tc.feed(f)
			require.NoError(t, f.s.Err())
			assert.Equal(t, tc.want, f.formatted())
			assert.Equal(t, tc.phase, f.s.Info().Phase)
			if tc.plugin != "" {
				assert.Equal(t, tc.plugin, f.s.Info().AuthPlugin)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	greet := packet(0, greetingPayload("8.4.3", mysqlCaps, "caching_sha2_password"))
	sslReq := packet(1, responsePayload(mysqlCaps, "", "", "")[:32])
	full := packet(2, responsePayload(mysqlCaps&^(protocol.CapCompress|protocol.CapZstdCompression), "app", "shop", "caching_sha2_password"))
	tlsHello := []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03}

	t.Run("opaque", func(t *testing.T) {
		f := newFeeder(t, protocol.SessionConfig{})
		f.server(greet).client(sslReq)
		assert.Equal(t, protocol.PhaseTLS, f.s.Info().Phase)
		f.client(tlsHello).server([]byte{0x16, 0x03, 0x03, 0xFF, 0xFF}).client(query("SELECT 1"))
		require.NoError(t, f.s.Err(), "TLS is not a decode error")
		assert.Equal(t, []string{"connect user= schema= incomplete"}, f.formatted())
		assert.Equal(t, 0, f.s.InFlight())
		info := f.s.Info()
		assert.True(t, info.ClientCaps.Has(protocol.CapSSL))
		assert.Equal(t, uint64(len(sslReq)+len(tlsHello)+len(query("SELECT 1"))), info.BytesFromClient)
		f.s.Close(f.now)
		assert.Equal(t, protocol.PhaseTLS, f.s.Info().Phase, "Close keeps the reason")
	})
	t.Run("decrypted by the proxy", func(t *testing.T) {
		f := newFeeder(t, protocol.SessionConfig{DecryptedTLS: true})
		f.server(greet).client(sslReq).client(full)
		f.server(packet(3, okPayload(0, 0, 0, 2, 0)))
		f.client(packet(0, cat([]byte{3, 0, 1}, []byte("SELECT 1")))) // QUERY_ATTRIBUTES prefix
		f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
		require.NoError(t, f.s.Err())
		assert.Equal(t, []string{"connect user=app schema=shop results=1", `query "SELECT 1" results=1`}, f.formatted())
	})
}

func TestOpaqueVariants(t *testing.T) {
	t.Run("HandshakeResponse320", func(t *testing.T) {
		f := newFeeder(t, protocol.SessionConfig{})
		f.server(packet(0, greetingPayload("5.0.96", mysqlCaps, "")))
		f.client(packet(1, []byte{0x85, 0x24, 0x00, 0x00, 0x00, 'a', 'p', 'p', 0}))
		require.NoError(t, f.s.Err())
		assert.Equal(t, protocol.PhaseOpaque, f.s.Info().Phase)
	})
}

func TestResponses(t *testing.T) {
	// Each case runs after a MariaDB login with DEPRECATE_EOF unless noted.
	more := protocol.StatusMoreResultsExist | protocol.StatusAutocommit
	tests := []struct {
		name   string
		mysql  bool // log in as MySQL 8 (OPTIONAL_RESULTSET_METADATA, QUERY_ATTRIBUTES)
		script func(f *feeder)
		want   []string
	}{
		{
			name: "progress report mid-result is not an error",
			script: func(f *feeder) {
				f.client(packet(0, query("ALTER TABLE t ENGINE=InnoDB")))
				f.server(packet(1, append([]byte{0xFF, 0xFF, 0xFF, 1, 1, 2, 0x10, 0x27, 0}, "\x05stage"...)))
				f.server(packet(2, okPayload(0, 0, 0, 2, 0)))
			},
			want: []string{`query "ALTER TABLE t ENGINE=InnoDB" results=1`},
		},
		{
			name: "unsolicited ERR with nothing in flight",
			script: func(f *feeder) {
				f.server(packet(0, errPayload(4031, "HY000", "The client was disconnected by the server because of inactivity.")))
				f.client(packet(0, query("SELECT 1")))
				f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
				info := f.s.Info()
				assert.Equal(f.t, 1, info.Unsolicited)
				require.NotNil(f.t, info.LastUnsolicited)
				assert.Equal(f.t, uint16(4031), info.LastUnsolicited.Code)
				assert.Equal(f.t, "HY000", info.LastUnsolicited.SQLState)
			},
			want: []string{`query "SELECT 1" results=1`},
		},
		{
			// Rows that sit whole in a chunk are counted without framing
			// them; what is not plainly a row goes through the framer.
			name: "rows in one chunk: NULL-first, empty, a second result, a cut row",
			script: func(f *feeder) {
				cut := packet(10, []byte{0xFC, 3, 0, 'a', 'b', 'c'})
				f.client(packet(0, query("CALL p()")))
				f.server(packet(1, []byte{1}), packet(2, colDef("a")),
					packet(3, []byte{0xFB}), packet(4, nil), packet(5, []byte{1, 'x'}),
					packet(6, okPayload(0xFE, 0, 0, more, 0)),
					packet(7, []byte{1}), packet(8, colDef("b")), packet(9, []byte{2, 'y', 'z'}), cut[:7])
				f.server(cut[7:], packet(11, errPayload(1317, "70100", "Query execution was interrupted")))
			},
			want: []string{`query "CALL p()" results=1 rows=5 err=1317`},
		},
		{
			name: "multi-results chain ends at ERR",
			script: func(f *feeder) {
				f.client(packet(0, query("SELECT 1; BAD; SELECT 2")))
				f.server(packet(1, []byte{1}), packet(2, colDef("1")), packet(3, []byte{1, '1'}),
					packet(4, okPayload(0xFE, 0, 0, more, 0)),
					packet(5, errPayload(1064, "42000", "syntax")))
			},
			want: []string{`query "SELECT 1; BAD; SELECT 2" results=1 rows=1 err=1064`},
		},
		{
			name: "OK chain sums affected rows and keeps the last insert id",
			script: func(f *feeder) {
				f.client(packet(0, query("INSERT 1; INSERT 2; UPDATE")))
				f.server(packet(1, okPayload(0, 1, 5, more, 0)), packet(2, okPayload(0, 2, 7, more, 1)),
					packet(3, okPayload(0, 3, 0, 2, 1)))
			},
			want: []string{`query "INSERT 1; INSERT 2; UPDATE" results=3 affected=6 insert_id=7 warnings=2`},
		},
		{
			name: "pipelined commands: FIFO matching and zero-reply entries",
			script: func(f *feeder) {
				f.client(packet(0, query("SELECT 1")), packet(0, stmtCmd(protocol.ComStmtClose, 9)),
					packet(0, []byte{byte(protocol.ComPing)}), packet(0, query("DO 2")))
				assert.Equal(f.t, 4, f.s.InFlight())
				f.server(packet(1, []byte{1}), packet(2, colDef("1")))
				f.server(packet(3, []byte{1, '1'}), packet(4, okPayload(0xFE, 0, 0, 2, 0)), packet(1, okPayload(0, 0, 0, 2, 0)))
				assert.Equal(f.t, 1, f.s.InFlight())
				f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
				assert.Equal(f.t, 0, f.s.InFlight())
			},
			want: []string{`query "SELECT 1" results=1 rows=1`, `stmt_close stmt=9`, `ping results=1`, `query "DO 2" results=1`},
		},
		{
			name: "STMT_CLOSE pipelined behind an EXECUTE applies after it",
			script: func(f *feeder) {
				f.client(packet(0, append([]byte{byte(protocol.ComStmtPrepare)}, "DO ?"...)))
				f.server(packet(1, prepareOK(1, 0, 1)), packet(2, colDef("?")))
				f.client(packet(0, stmtCmd(protocol.ComStmtExecute, 1, 0, 1, 0, 0, 0, 0, 1, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0)),
					packet(0, stmtCmd(protocol.ComStmtClose, 1)),
					packet(0, stmtCmd(protocol.ComStmtExecute, 1, 0, 1, 0, 0, 0)))
				f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
				f.server(packet(1, errPayload(1243, "HY000", "Unknown prepared statement handler")))
			},
			want: []string{`stmt_prepare "DO ?" stmt=1 results=1`, `stmt_execute "DO ?" stmt=1 results=1 params=[1]`,
				`stmt_close "DO ?" stmt=1`, `stmt_execute stmt=1 err=1243`},
		},
		{
			name: "MariaDB last-prepared id resolves in FIFO order",
			script: func(f *feeder) {
				f.client(packet(0, append([]byte{byte(protocol.ComStmtPrepare)}, "SELECT 1"...)),
					packet(0, stmtCmd(protocol.ComStmtExecute, 0xFFFFFFFF, 0, 1, 0, 0, 0)))
				f.server(packet(1, prepareOK(7, 1, 0)), packet(2, colDef("1")))
				f.server(packet(1, []byte{1, 0}), packet(2, []byte{0, 0, 1, 0, 0, 0, 0, 0, 0, 0}),
					packet(3, okPayload(0xFE, 0, 0, 2, 0)))
			},
			want: []string{`stmt_prepare "SELECT 1" stmt=7 results=1`, `stmt_execute "SELECT 1" stmt=7 results=1 rows=1`},
		},
		{
			name: "LOCAL INFILE upload wrapping past seq 255, then a progress packet",
			script: func(f *feeder) {
				f.client(packet(0, query("LOAD DATA LOCAL INFILE 'x' INTO TABLE t")))
				f.server(packet(1, []byte("\xFBx")))
				var up [][]byte
				for i := range 300 {
					// File data that looks like commands must stay data.
					up = append(up, packet(byte(2+i), query("SELECT 'not a command'")))
				}
				f.client(up...)
				f.client(packet(byte(302%256), nil))
				f.server(packet(47, append([]byte{0xFF, 0xFF, 0xFF, 1, 2, 2, 0, 0, 0}, "\x0fEnd bulk insert"...)))
				f.server(packet(48, okPayload(0, 30, 0, 2, 0)))
			},
			want: []string{`query "LOAD DATA LOCAL INFILE 'x' INTO TABLE t" results=1 affected=30`},
		},
		{
			name: "COM_STATISTICS answers with bare text",
			script: func(f *feeder) {
				f.client(packet(0, []byte{byte(protocol.ComStatistics)}))
				f.server(packet(1, []byte("Uptime: 5  Threads: 1")))
				f.client(packet(0, []byte{byte(protocol.ComPing)}))
				f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
			},
			want: []string{`statistics results=1`, `ping results=1`},
		},
		{
			name: "SET_OPTION succeeds with 0xFE and toggles multi-statements",
			script: func(f *feeder) {
				f.client(packet(0, []byte{byte(protocol.ComSetOption), 1, 0}))
				f.server(packet(1, okPayload(0xFE, 0, 0, 2, 0)))
				assert.False(f.t, f.s.Info().MultiStatements)
			},
			want: []string{`set_option results=1`},
		},
		{
			name: "session tracking updates the schema",
			script: func(f *feeder) {
				f.client(packet(0, query("USE other")))
				ok := okPayload(0, 0, 0, protocol.StatusAutocommit|protocol.StatusSessionStateChange, 0)
				ok = append(ok, 0, 24) // empty info, 24-byte state block
				ok = append(ok, 0, 14, 10)
				ok = append(ok, "autocommit\x02ON"...) // system variable entry
				ok = append(ok, 1, 6, 5)
				ok = append(ok, "other"...) // schema entry
				f.server(packet(1, ok))
				f.client(packet(0, query("SELECT 1")))
				f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
				assert.Equal(f.t, "other", f.s.Info().Schema)
				assert.Equal(f.t, "other", f.evs[len(f.evs)-1].Schema)
			},
			want: []string{`query "USE other" results=1`, `query "SELECT 1" results=1`},
		},
		{
			name: "INIT_DB and RESET_CONNECTION",
			script: func(f *feeder) {
				f.client(packet(0, append([]byte{byte(protocol.ComInitDB)}, "db2"...)))
				f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
				assert.Equal(f.t, "db2", f.s.Info().Schema)
				f.client(packet(0, append([]byte{byte(protocol.ComInitDB)}, "nope"...)))
				f.server(packet(1, errPayload(1049, "42000", "Unknown database 'nope'")))
				assert.Equal(f.t, "db2", f.s.Info().Schema)
			},
			want: []string{`init_db "db2" results=1`, `init_db "nope" err=1049`},
		},
		{
			name: "COM_CHANGE_USER failing keeps the user",
			script: func(f *feeder) {
				cu := append([]byte{byte(protocol.ComChangeUser)}, "bob\x00\x14"...)
				cu = append(cu, bytes.Repeat([]byte{1}, 20)...)
				cu = append(cu, "bobdb\x00"...)
				f.client(packet(0, cu))
				f.server(packet(1, append([]byte{0xFE}, "mysql_native_password\x0012345678901234567890\x00"...)))
				f.client(packet(2, bytes.Repeat([]byte{2}, 20)))
				f.server(packet(3, errPayload(1045, "28000", "Access denied for user 'bob'")))
				assert.Equal(f.t, "app", f.s.Info().User)
				f.client(packet(0, cu))
				f.server(packet(1, append([]byte{0xFE}, "mysql_native_password\x0012345678901234567890\x00"...)))
				f.client(packet(2, bytes.Repeat([]byte{2}, 20)))
				f.server(packet(3, okPayload(0, 0, 0, 2, 0)))
				assert.Equal(f.t, "bob", f.s.Info().User)
				assert.Equal(f.t, "bobdb", f.s.Info().Schema)
			},
			want: []string{`change_user err=1045`, `change_user results=1`},
		},
		{
			name: "replication stream stops decoding without an error",
			script: func(f *feeder) {
				f.client(packet(0, []byte{byte(protocol.ComBinlogDump), 4, 0, 0, 0, 0, 0, 2, 0, 0, 0}))
				f.server(packet(1, errPayload(1236, "HY000", "binlog not found")))
				assert.Equal(f.t, protocol.PhaseCommand, f.s.Info().Phase)
				f.client(packet(0, []byte{byte(protocol.ComBinlogDump), 4, 0, 0, 0, 0, 0, 2, 0, 0, 0}))
				f.server(packet(1, []byte{0, 1, 2, 3}), packet(2, []byte{0, 4, 5, 6}))
				f.client(packet(0, []byte{0xEF, 1, 2, 3}))
				assert.Equal(f.t, protocol.PhaseReplication, f.s.Info().Phase)
				assert.NoError(f.t, f.s.Err())
			},
			want: []string{`binlog_dump err=1236`, `binlog_dump incomplete`},
		},
		{
			name: "commands pipelined behind the login (CONJ-463)",
			script: func(f *feeder) {
				f2 := newFeeder(f.t, protocol.SessionConfig{})
				f2.server(packet(0, greetingPayload("5.5.5-10.11.9-MariaDB", mariaDBCaps, "mysql_native_password")))
				f2.client(packet(1, responsePayload(mariaDBCaps, "app", "shop", "mysql_native_password")),
					packet(0, query("SET NAMES utf8mb4")), packet(0, stmtCmd(protocol.ComStmtClose, 3)))
				assert.Equal(f.t, 2, f2.s.InFlight())
				f2.server(packet(2, okPayload(0, 0, 0, 2, 0)), packet(1, okPayload(0, 0, 0, 2, 0)))
				assert.Equal(f.t, []string{`connect user=app schema=shop results=1`, `query "SET NAMES utf8mb4" results=1`, `stmt_close stmt=3`}, f2.formatted())
			},
			want: nil,
		},
		{
			name:  "MySQL query attributes: the SQL follows the prefix",
			mysql: true,
			script: func(f *feeder) {
				f.client(packet(0, cat([]byte{3, 0, 1}, []byte("SELECT 1"))))
				f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
				q := []byte{3, 3, 1, 0b100, 1}
				q = append(q, 0xFD, 0, 11)
				q = append(q, "traceparent"...)
				q = append(q, 0x08, 0x80, 1, 'n')
				q = append(q, 0x06, 0, 1, 'z')
				q = append(q, 6)
				q = append(q, "00-abc"...)
				q = binary.LittleEndian.AppendUint64(q, 5)
				q = append(q, "SELECT 2"...)
				f.client(packet(0, q))
				f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
				f.client(packet(0, []byte{3, 1, 1, 0, 1, 0xEE, 0, 1, 'x', 1, 2, 'S'}))
				f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
			},
			want: []string{`query "SELECT 1" results=1`,
				`query "SELECT 2" results=1 attr[traceparent=00-abc] attr[n=5] attr[z=]`,
				`query results=1 truncated(11)`},
		},
		{
			name:  "MySQL optional metadata skipped",
			mysql: true,
			script: func(f *feeder) {
				f.client(packet(0, []byte{3, 0, 1, 'S'}))
				f.server(packet(1, []byte{2, 0}), packet(2, []byte{1, 'a', 1, 'b'}), packet(3, okPayload(0xFE, 0, 0, 2, 0)))
			},
			want: []string{`query "S" results=1 rows=1`},
		},
		{
			name: "empty command packet is answered by ERR",
			script: func(f *feeder) {
				f.client(packet(0, nil))
				f.server(packet(1, errPayload(1047, "08S01", "Unknown command")))
			},
			want: []string{`sleep err=1047`},
		},
		{
			name: "cursor without DEPRECATE_EOF ends at the metadata EOF",
			script: func(f *feeder) {
				f2 := newFeeder(f.t, protocol.SessionConfig{})
				f2.login(mariaDBCaps, mariaDBCaps&^(protocol.CapDeprecateEOF|protocol.CapMariaDBCacheMetadata), "5.5.5-10.11.9-MariaDB")
				f2.client(packet(0, append([]byte{byte(protocol.ComStmtPrepare)}, "SELECT a FROM t"...)))
				f2.server(packet(1, prepareOK(1, 1, 0)), packet(2, colDef("a")), packet(3, eofPayload(0, 2)))
				f2.client(packet(0, stmtCmd(protocol.ComStmtExecute, 1, 1, 1, 0, 0, 0)))
				f2.server(packet(1, []byte{1}), packet(2, colDef("a")), packet(3, eofPayload(0, 2|protocol.StatusCursorExists)))
				f2.client(packet(0, stmtCmd(protocol.ComStmtFetch, 1, 10, 0, 0, 0)))
				f2.server(packet(1, []byte{0, 0, 1}), packet(2, []byte{0, 0, 2}), packet(3, eofPayload(0, 2|protocol.StatusLastRowSent)))
				require.NoError(f.t, f2.s.Err())
				assert.Equal(f.t, []string{`connect user=app schema=shop results=1`,
					`stmt_prepare "SELECT a FROM t" stmt=1 results=1`,
					`stmt_execute "SELECT a FROM t" stmt=1 results=1`,
					`stmt_fetch "SELECT a FROM t" stmt=1 results=1 rows=2`}, f2.formatted())
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeeder(t, protocol.SessionConfig{})
			if tc.mysql {
				f.loginMySQL()
			} else {
				f.loginMariaDB()
			}
			f.evs = nil
			tc.script(f)
			require.NoError(t, f.s.Err())
			if len(tc.want) == 0 {
				assert.Empty(t, f.evs)
			} else {
				assert.Equal(t, tc.want, f.formatted())
			}
		})
	}
}

func TestTiming(t *testing.T) {
	f := newFeeder(t, protocol.SessionConfig{}).loginMariaDB()
	f.evs = nil
	t0 := f.now
	f.client(packet(0, query("SELECT SLEEP(1)")), packet(0, query("DO 1"))) // t0+1: both sent
	f.server(packet(1, []byte{1}))                                          // t0+2: first byte of the first answer
	f.server(packet(2, colDef("x")), packet(3, []byte{1, '0'}))             // t0+3
	f.server(packet(4, okPayload(0xFE, 0, 0, 2, 0)))                        // t0+4: first answer ends
	f.server(packet(1, okPayload(0, 0, 0, 2, 0)))                           // t0+5: second answer
	require.Len(t, f.evs, 2)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	a, b := f.evs[0], f.evs[1]
	assert.Equal(t, []time.Time{ms(1), ms(1), ms(2), ms(4)}, []time.Time{a.Sent, a.Start, a.FirstResponse, a.End})
	assert.Equal(t, []time.Time{ms(1), ms(4), ms(5), ms(5)}, []time.Time{b.Sent, b.Start, b.FirstResponse, b.End})
	assert.Equal(t, 3*time.Millisecond, a.Latency())
	assert.Equal(t, time.Millisecond, a.TimeToFirstByte())
	assert.Equal(t, uint64(4+16), a.BytesIn)
	assert.Equal(t, uint64(4+1+4+len(colDef("x"))+4+2+4+7), a.BytesOut)
}

func TestMaxSQLBytes(t *testing.T) {
	f := newFeeder(t, protocol.SessionConfig{MaxSQLBytes: 10}).loginMariaDB()
	f.evs = nil
	sql := "SELECT 'ééééé'" // 'é' is 2 bytes: byte 10 is inside one
	f.client(packet(0, query(sql)))
	f.server(packet(1, okPayload(0, 0, 0, 2, 0)))
	require.Len(t, f.evs, 1)
	e := f.evs[0]
	assert.Equal(t, "SELECT 'é", e.SQL)
	assert.True(t, utf8.ValidString(e.SQL))
	assert.True(t, e.SQLTruncated)
	assert.Equal(t, len(sql), e.SQLLength)
}

func TestDesync(t *testing.T) {
	f := newFeeder(t, protocol.SessionConfig{}).loginMariaDB()
	f.evs = nil
	f.client(packet(0, query("SELECT 1")), packet(0, query("SELECT 2")))
	f.server(packet(1, []byte{0xFB, 0xFF})) // not a column count: 0xFB is NULL... here after a QUERY it is LOCAL INFILE
	f.client(packet(2, nil))                // so the client's empty packet ends the "upload"
	f.server(packet(3, []byte{0xFF}))       // a 1-byte ERR
	var de *protocol.DecodeError
	require.True(t, errors.As(f.s.Err(), &de), "got %v", f.s.Err())
	assert.Equal(t, "ERR", de.Message)
	assert.Equal(t, protocol.FromServer, de.Dir)
	assert.Contains(t, de.Error(), "short ERR packet")
	assert.Equal(t, protocol.PhaseDesynced, f.s.Info().Phase)
	assert.Equal(t, []string{`query "SELECT 1" incomplete`, `query "SELECT 2" incomplete`}, f.formatted())
	assert.Equal(t, 0, f.s.InFlight())
	before := f.s.Info().BytesFromServer
	f.server([]byte("anything at all"))
	assert.Equal(t, before+15, f.s.Info().BytesFromServer)
	f.s.Close(f.now)
	assert.Len(t, f.evs, 2)
	assert.Equal(t, protocol.PhaseDesynced, f.s.Info().Phase)
}

func TestCloseEmitsIncomplete(t *testing.T) {
	f := newFeeder(t, protocol.SessionConfig{}).loginMariaDB()
	f.evs = nil
	f.client(packet(0, query("SELECT SLEEP(100)")))
	f.server(packet(1, []byte{1}))
	f.s.Close(f.now)
	f.s.Close(f.now)
	require.Equal(t, []string{`query "SELECT SLEEP(100)" incomplete`}, f.formatted())
	assert.True(t, f.evs[0].End.IsZero())
	assert.False(t, f.evs[0].FirstResponse.IsZero())
	assert.Equal(t, protocol.PhaseClosed, f.s.Info().Phase)
	f.client(packet(0, query("SELECT 1")))
	assert.Len(t, f.evs, 1)
}

func TestCompressed(t *testing.T) {
	caps := mariaDBCaps | protocol.CapCompress
	login := func(f *feeder) {
		f.server(packet(0, greetingPayload("5.5.5-10.11.9-MariaDB", caps, "mysql_native_password")))
		f.client(packet(1, responsePayload(caps, "app", "shop", "mysql_native_password")))
		f.s.Feed(protocol.FromServer, packet(2, okPayload(0, 0, 0, 2, 0)), f.now)
		f.evs = nil
	}
	t.Run("frames split packets and packets split frames", func(t *testing.T) {
		f := newFeeder(t, protocol.SessionConfig{})
		login(f)
		assert.Equal(t, protocol.CompressionZlib, f.s.Info().Compression)
		cmds := cat(packet(0, query("SELECT 1")), packet(0, query("SELECT 'x'")))
		f.client(rawFrame(0, cmds[:5]), zlibFrame(1, cmds[5:20]))
		f.client(zlibFrame(2, cmds[20:]))
		resp := cat(packet(1, []byte{1}), packet(2, colDef("1")), packet(3, []byte{1, '1'}), packet(4, okPayload(0xFE, 0, 0, 2, 0)),
			packet(1, okPayload(0, 0, 0, 2, 0)))
		frames := cat(zlibFrame(0, resp[:11]), rawFrame(1, resp[11:30]), zlibFrame(2, resp[30:]))
		for i := range frames { // one byte at a time
			f.server(frames[i : i+1])
		}
		require.NoError(t, f.s.Err())
		assert.Equal(t, []string{`query "SELECT 1" results=1 rows=1`, `query "SELECT 'x'" results=1`}, f.formatted())
		var in, out uint64
		for _, e := range f.evs {
			in += e.BytesIn
			out += e.BytesOut
		}
		info := f.s.Info()
		assert.Equal(t, info.BytesFromClient-uint64(len(packet(1, responsePayload(caps, "app", "shop", "mysql_native_password")))), in)
		assert.Equal(t, uint64(len(frames)), out)
	})
	t.Run("the OK and the first frame in one chunk", func(t *testing.T) {
		f := newFeeder(t, protocol.SessionConfig{})
		f.server(packet(0, greetingPayload("5.5.5-10.11.9-MariaDB", caps, "mysql_native_password")))
		f.client(packet(1, responsePayload(caps, "app", "shop", "mysql_native_password")))
		// An unsolicited ERR, compressed, right behind the OK.
		f.server(packet(2, okPayload(0, 0, 0, 2, 0)), zlibFrame(0, packet(0, errPayload(1927, "70100", "Connection was killed"))))
		require.NoError(t, f.s.Err())
		assert.Equal(t, []string{`connect user=app schema=shop results=1`}, f.formatted())
		require.NotNil(t, f.s.Info().LastUnsolicited)
		assert.Equal(t, uint16(1927), f.s.Info().LastUnsolicited.Code)
	})
	t.Run("corrupt zlib desyncs", func(t *testing.T) {
		f := newFeeder(t, protocol.SessionConfig{})
		login(f)
		fr := zlibFrame(0, packet(0, query("SELECT 1")))
		fr[len(fr)-3] ^= 0xFF // break the checksum
		f.client(fr)
		var de *protocol.DecodeError
		require.True(t, errors.As(f.s.Err(), &de))
		assert.Equal(t, "compressed frame", de.Message)
	})
	t.Run("zstd (MySQL)", func(t *testing.T) {
		goroutines := runtime.NumGoroutine()
		f := newFeeder(t, protocol.SessionConfig{})
		caps := mysqlCaps &^ (protocol.CapCompress | protocol.CapSSL)
		f.server(packet(0, greetingPayload("8.4.3", caps, "caching_sha2_password")))
		f.client(packet(1, append(responsePayload(caps, "app", "", "caching_sha2_password"), 3))) // + zstd level
		f.server(packet(2, okPayload(0, 0, 0, 2, 0)))
		assert.Equal(t, protocol.CompressionZstd, f.s.Info().Compression)
		big := strings.Repeat("x", 100000)
		cmd := cat(packet(0, cat([]byte{3, 0, 1}, []byte("SELECT '"+big+"'"))))
		f.client(zstdFrame(t, 0, cmd[:50]), zstdFrame(t, 1, cmd[50:]))
		resp := cat(packet(1, []byte{1, 1}), packet(2, colDef("x")), packet(3, append([]byte{0xFC, 0xA0, 0x86, 0x01}, big...)),
			packet(4, okPayload(0xFE, 0, 0, 2, 0)))
		fr := zstdFrame(t, 0, resp)
		for len(fr) > 0 {
			n := min(1000, len(fr))
			f.server(fr[:n])
			fr = fr[n:]
		}
		require.NoError(t, f.s.Err())
		assert.Equal(t, []string{`connect user=app schema= results=1`,
			`query "SELECT 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…(65536 bytes)" results=1 rows=1 truncated(100009)`}, f.formatted())
		f.s.Close(f.now)
		assert.LessOrEqual(t, runtime.NumGoroutine(), goroutines, "the zstd decoder must not leave goroutines")
	})
}

func TestAppendErrPacket(t *testing.T) {
	b := protocol.AppendErrPacket([]byte("prefix"), 0, 2003, "HY000", "upstream unreachable")
	assert.Equal(t, "prefix", string(b[:6]))
	b = b[6:]
	assert.Equal(t, []byte{byte(len(b) - 4), 0, 0, 0, 0xFF, 0xD3, 0x07, '#', 'H', 'Y', '0', '0', '0'}, b[:13])
	assert.Equal(t, "upstream unreachable", string(b[13:]))

	// In place of a greeting, without sqlstate: the session decodes it.
	f := newFeeder(t, protocol.SessionConfig{})
	f.server(protocol.AppendErrPacket(nil, 0, 1040, "", "Too many connections"))
	require.Len(t, f.evs, 1)
	assert.Equal(t, uint16(1040), f.evs[0].ErrorCode)
	assert.Equal(t, "", f.evs[0].SQLState)
	assert.Equal(t, "Too many connections", f.evs[0].ErrorMessage)

	short := protocol.AppendErrPacket(nil, 3, 1, "AB", "m")
	assert.Equal(t, "#AB000m", string(short[7:]))
	long := protocol.AppendErrPacket(nil, 0, 1, "HY000", strings.Repeat("x", protocol.MaxPacketPayload))
	assert.Equal(t, protocol.MaxPacketPayload-1, int(long[0])|int(long[1])<<8|int(long[2])<<16)
}
