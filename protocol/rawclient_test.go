package protocol_test

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/protocol"
)

// rawClient is a minimal MySQL client for driving commands that drivers do
// not send (COM_STATISTICS, COM_FIELD_LIST, cursors, BULK_EXECUTE...) and
// capability sets they do not negotiate. It frames packets naively and never
// parses responses beyond what a step awaits: it pipelines, and reads until
// the server closes after COM_QUIT.
type rawClient struct {
	t        testing.TB
	conn     net.Conn
	pkts     chan rawPacket
	caps     protocol.CapabilityFlag
	scramble []byte
}

type rawPacket struct {
	seq     byte
	payload []byte
}

// native computes a mysql_native_password token:
// SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))).
func native(scramble []byte, password string) []byte {
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	h := sha1.New()
	h.Write(scramble[:20])
	h.Write(h2[:])
	h3 := h.Sum(nil)
	for i := range h3 {
		h3[i] ^= h1[i]
	}
	return h3
}

func readRawPacket(r io.Reader) (rawPacket, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return rawPacket{}, err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	p := rawPacket{seq: hdr[3], payload: make([]byte, n)}
	_, err := io.ReadFull(r, p.payload)
	return p, err
}

func packetBytes(seq byte, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload))
	b[0], b[1], b[2], b[3] = byte(len(payload)), byte(len(payload)>>8), byte(len(payload)>>16), seq
	return append(b, payload...)
}

// dialRaw connects and logs in with the wanted capabilities (intersected
// with the server's), as testdb.User into schema.
func dialRaw(t testing.TB, addr string, want protocol.CapabilityFlag, schema, password string) (*rawClient, byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c := &rawClient{t: t, conn: conn}
	g, err := readRawPacket(conn)
	if err != nil {
		t.Fatal(err)
	}
	// HandshakeV10: version NUL, u32 id, 8 scramble, filler, u16 caps, u8
	// charset, u16 status, u16 caps, u8 len, 6 reserved, u32 ext, 12+1 scramble.
	p := g.payload
	pos := 1
	for p[pos] != 0 {
		pos++
	}
	pos++
	pos += 4
	scr := append([]byte{}, p[pos:pos+8]...)
	pos += 9
	server := protocol.CapabilityFlag(binary.LittleEndian.Uint16(p[pos:]))
	pos += 2 + 1 + 2
	server |= protocol.CapabilityFlag(binary.LittleEndian.Uint16(p[pos:])) << 16
	pos += 2 + 1 + 6
	if server&protocol.CapLongPassword == 0 {
		server |= protocol.CapabilityFlag(binary.LittleEndian.Uint32(p[pos:])) << 32
	}
	pos += 4
	scr = append(scr, p[pos:pos+12]...)
	c.scramble = scr
	c.caps = want & server
	if server&protocol.CapLongPassword == 0 {
		c.caps &^= protocol.CapLongPassword
	}
	if schema != "" {
		c.caps |= protocol.CapConnectWithDB
	} else {
		c.caps &^= protocol.CapConnectWithDB
	}
	resp := binary.LittleEndian.AppendUint32(nil, uint32(c.caps))
	resp = binary.LittleEndian.AppendUint32(resp, 1<<30)
	resp = append(resp, 45) // utf8mb4_general_ci
	resp = append(resp, make([]byte, 19)...)
	resp = binary.LittleEndian.AppendUint32(resp, uint32(c.caps>>32))
	resp = append(resp, testdb.User...)
	resp = append(resp, 0)
	tok := native(scr, password)
	resp = append(resp, byte(len(tok)))
	resp = append(resp, tok...)
	if schema != "" {
		resp = append(resp, schema...)
		resp = append(resp, 0)
	}
	resp = append(resp, "mysql_native_password"...)
	resp = append(resp, 0)
	if c.caps&protocol.CapConnectAttrs != 0 {
		attrs := []byte{}
		for _, kv := range [][2]string{{"_client_name", "rawclient"}, {"program_name", "protocol_test"}} {
			attrs = append(attrs, byte(len(kv[0])))
			attrs = append(attrs, kv[0]...)
			attrs = append(attrs, byte(len(kv[1])))
			attrs = append(attrs, kv[1]...)
		}
		resp = append(resp, byte(len(attrs)))
		resp = append(resp, attrs...)
	}
	if _, err := conn.Write(packetBytes(1, resp)); err != nil {
		t.Fatal(err)
	}
	r, err := readRawPacket(conn)
	if err != nil {
		t.Fatal(err)
	}
	if r.payload[0] != 0x00 {
		return c, r.payload[0]
	}
	c.pkts = make(chan rawPacket, 1<<16)
	go func() {
		defer close(c.pkts)
		for {
			p, err := readRawPacket(conn)
			if err != nil {
				return
			}
			c.pkts <- p
		}
	}()
	return c, 0
}

// send writes a command (seq 0).
func (c *rawClient) send(payload ...byte) { c.sendSeq(0, payload) }

func (c *rawClient) sendSeq(seq byte, payload []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(packetBytes(seq, payload)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) query(sql string) { c.send(append([]byte{byte(protocol.ComQuery)}, sql...)...) }

// await reads server packets until one satisfies pred and returns it.
func (c *rawClient) await(what string, pred func(rawPacket) bool) rawPacket {
	c.t.Helper()
	for p := range c.pkts {
		if pred(p) {
			return p
		}
	}
	c.t.Fatalf("connection closed while waiting for %s", what)
	return rawPacket{}
}

// finish sends COM_QUIT and waits for the server to close.
func (c *rawClient) finish() {
	c.send(byte(protocol.ComQuit))
	for range c.pkts {
	}
	c.conn.Close()
}

// Builders for statement commands.

func stmtCmd(cmd protocol.Command, id uint32, rest ...byte) []byte {
	b := binary.LittleEndian.AppendUint32([]byte{byte(cmd)}, id)
	return append(b, rest...)
}

// execLongLong builds COM_STMT_EXECUTE with one LONGLONG parameter (types
// sent when bind is set).
func execLongLong(id uint32, v int64, bind bool) []byte {
	b := stmtCmd(protocol.ComStmtExecute, id, 0, 1, 0, 0, 0) // flags 0, iterations 1
	b = append(b, 0)                                         // null bitmap
	if bind {
		b = append(b, 1, 0x08, 0x00)
	} else {
		b = append(b, 0)
	}
	return binary.LittleEndian.AppendUint64(b, uint64(v))
}

func fmtSeqs(ps []rawPacket) string {
	s := ""
	for _, p := range ps {
		s += fmt.Sprintf("%d:%x ", p.seq, p.payload[:min(len(p.payload), 8)])
	}
	return s
}

// Capability sets of the raw scenarios.
const (
	rawCapsBase = protocol.CapLongPassword | protocol.CapLongFlag | protocol.CapProtocol41 |
		protocol.CapTransactions | protocol.CapSecureConnection | protocol.CapMultiStatements |
		protocol.CapMultiResults | protocol.CapPSMultiResults | protocol.CapPluginAuth |
		protocol.CapConnectAttrs | protocol.CapLocalFiles | protocol.CapMariaDBStmtBulk
	rawCapsModern = rawCapsBase | protocol.CapDeprecateEOF | protocol.CapSessionTrack |
		protocol.CapMariaDBCacheMetadata | protocol.CapMariaDBProgress | protocol.CapMariaDBExtMetadata
	rawCapsClassic = rawCapsBase
)

// prepare sends COM_STMT_PREPARE and waits for its PREPARE_OK (the only
// 12-byte packet starting 0x00 this script's responses contain).
func (c *rawClient) prepare(sql string) uint32 {
	c.t.Helper()
	c.send(append([]byte{byte(protocol.ComStmtPrepare)}, sql...)...)
	p := c.await("PREPARE_OK", func(p rawPacket) bool { return len(p.payload) == 12 && p.payload[0] == 0 })
	return binary.LittleEndian.Uint32(p.payload[1:])
}

// rawScript runs every command kind through a raw client, pipelining all
// but the steps that need an answer first (PREPARE ids, LOCAL INFILE,
// CHANGE_USER).
func rawScript(t *testing.T, addr string, caps protocol.CapabilityFlag) {
	c, fail := dialRaw(t, addr, caps, testdb.Schema, testdb.Password)
	if fail != 0 {
		t.Fatalf("login failed: %x", fail)
	}
	str := func(cmd protocol.Command, s string) { c.send(append([]byte{byte(cmd)}, s...)...) }
	c.query("DROP TABLE IF EXISTS raw_t")
	c.query("CREATE TABLE raw_t (id INT PRIMARY KEY, v VARCHAR(20))")
	c.query("INSERT INTO raw_t VALUES (1, 'one'), (2, 'two'), (3, NULL)")

	id := c.prepare("SELECT ? + 1")
	c.send(execLongLong(id, 41, true)...)  // types sent
	c.send(execLongLong(id, 41, false)...) // types reused
	id2 := c.prepare("DO 1")               // a single packet
	c.send(stmtCmd(protocol.ComStmtExecute, id2, 0, 1, 0, 0, 0)...)
	id3 := c.prepare("SELECT seq FROM seq_1_to_5")
	c.send(stmtCmd(protocol.ComStmtExecute, id3, 1, 1, 0, 0, 0)...) // read-only cursor
	c.send(stmtCmd(protocol.ComStmtFetch, id3, 2, 0, 0, 0)...)      // 2 rows
	c.send(stmtCmd(protocol.ComStmtFetch, id3, 2, 0, 0, 0)...)      // 2 rows
	c.send(stmtCmd(protocol.ComStmtFetch, id3, 2, 0, 0, 0)...)      // 1 row, LAST_ROW_SENT
	id4 := c.prepare("SELECT LENGTH(?)")
	c.send(stmtCmd(protocol.ComStmtSendLongData, id4, 0, 0, 'h', 'e', 'l')...) // no reply
	c.send(stmtCmd(protocol.ComStmtSendLongData, id4, 0, 0, 'l', 'o')...)      // no reply
	c.send(stmtCmd(protocol.ComStmtExecute, id4, 0, 1, 0, 0, 0, 0, 1, 0xFD, 0)...)
	c.send(stmtCmd(protocol.ComStmtReset, id4)...)
	c.send(stmtCmd(protocol.ComStmtClose, id4)...) // no reply
	// MariaDB: PREPARE + EXECUTE and BULK_EXECUTE of "the last prepared"
	// (-1), pipelined.
	str(protocol.ComStmtPrepare, "INSERT INTO raw_t VALUES (?, ?)")
	ex := stmtCmd(protocol.ComStmtExecute, 0xFFFFFFFF, 0, 1, 0, 0, 0, 0, 1, 0x03, 0, 0xFD, 0)
	ex = binary.LittleEndian.AppendUint32(ex, 10)
	ex = append(ex, 3, 't', 'e', 'n')
	c.send(ex...)
	// COM_STMT_BULK_EXECUTE with types: (11, 'eleven'), (12, 'twelve'), (13, NULL).
	bulk := stmtCmd(protocol.ComStmtBulkExecute, 0xFFFFFFFF, 0x80, 0, 0x03, 0, 0xFD, 0)
	for i, v := range []string{"eleven", "twelve", ""} {
		bulk = append(bulk, 0)
		bulk = binary.LittleEndian.AppendUint32(bulk, uint32(11+i))
		if v == "" {
			bulk = append(bulk, 1)
			continue
		}
		bulk = append(bulk, 0, byte(len(v)))
		bulk = append(bulk, v...)
	}
	c.send(bulk...)
	str(protocol.ComStmtPrepare, "SELEC 1")                                // fails
	c.send(stmtCmd(protocol.ComStmtExecute, 0xFFFFFFFF, 0, 1, 0, 0, 0)...) // fails too

	// LOCAL INFILE inside a multi-statement: the upload needs the request.
	c.query("SELECT 1; LOAD DATA LOCAL INFILE 'raw.csv' INTO TABLE raw_t FIELDS TERMINATED BY ','; SELECT COUNT(*) FROM raw_t")
	req := c.await("LOCAL INFILE request", func(p rawPacket) bool {
		return len(p.payload) > 1 && p.payload[0] == 0xFB && string(p.payload[1:]) == "raw.csv"
	})
	c.sendSeq(req.seq+1, []byte("20,twenty\n21,twenty-one\n"))
	c.sendSeq(req.seq+2, nil)

	c.query("USE mysql") // with SESSION_TRACK the OK names the new schema
	c.query("USE harness")
	str(protocol.ComInitDB, "mysql")
	str(protocol.ComInitDB, "no_such_db")
	str(protocol.ComInitDB, testdb.Schema)
	c.send(byte(protocol.ComPing))
	c.send(byte(protocol.ComStatistics))
	c.send(byte(protocol.ComSetOption), 1, 0) // multi-statements off
	c.send(byte(protocol.ComSetOption), 0, 0) // on
	c.send(byte(protocol.ComDebug))
	c.send(0x60) // unknown command
	c.send(byte(protocol.ComRefresh), 0x04)
	str(protocol.ComFieldList, "raw_t\x00")
	c.query("SELECT 1; SELECT id, v FROM raw_t")
	c.query("DROP PROCEDURE IF EXISTS raw_p")
	c.query("CREATE PROCEDURE raw_p() BEGIN SELECT 1; SELECT id FROM raw_t; END")
	c.query("CALL raw_p()")
	id5 := c.prepare("CALL raw_p()")
	c.send(stmtCmd(protocol.ComStmtExecute, id5, 0, 1, 0, 0, 0)...)

	c.send(byte(protocol.ComResetConnection))
	c.send(execLongLong(id, 41, true)...) // the statement is gone

	// COM_CHANGE_USER: MariaDB answers with an AuthSwitchRequest.
	cu := append([]byte{byte(protocol.ComChangeUser)}, testdb.User...)
	cu = append(cu, 0, 20)
	cu = append(cu, native(c.scramble, testdb.Password)...)
	cu = append(cu, "mysql"...)
	cu = append(cu, 0, 45, 0)
	cu = append(cu, "mysql_native_password"...)
	cu = append(cu, 0, 0) // no connection attributes
	c.send(cu...)
	sw := c.await("AuthSwitchRequest", func(p rawPacket) bool {
		return len(p.payload) > 22 && p.payload[0] == 0xFE && strings.HasPrefix(string(p.payload[1:]), "mysql_native_password\x00")
	})
	scr := sw.payload[1+len("mysql_native_password\x00"):]
	c.sendSeq(sw.seq+1, native(scr, testdb.Password))
	c.query("SELECT DATABASE(), CURRENT_USER()")
	c.query("DROP TABLE harness.raw_t")
	c.query("DROP PROCEDURE harness.raw_p")
	c.finish()
}

// rawWant is what rawScript decodes to, whatever the capabilities. The
// statement ids count from the first one the server handed out, which is
// not always 1 (MariaDB 10.11 was seen starting at 7).
func rawWant(evs []*protocol.Event) []string {
	first := uint32(1)
	for _, e := range evs {
		if e.Command == protocol.ComStmtPrepare {
			first = e.StmtID
			break
		}
	}
	return []string{
		`connect user=ql schema=harness results=1`,
		`query "DROP TABLE IF EXISTS raw_t" results=1 warnings=1`,
		`query "CREATE TABLE raw_t (id INT PRIMARY KEY, v VARCHAR(20))" results=1`,
		`query "INSERT INTO raw_t VALUES (1, 'one'), (2, 'two'), (3, NULL)" results=1 affected=3`,
		fmt.Sprintf(`stmt_prepare "SELECT ? + 1" stmt=%d results=1`, first+0),
		fmt.Sprintf(`stmt_execute "SELECT ? + 1" stmt=%d results=1 rows=1 params=[41]`, first+0),
		fmt.Sprintf(`stmt_execute "SELECT ? + 1" stmt=%d results=1 rows=1 params=[41]`, first+0),
		fmt.Sprintf(`stmt_prepare "DO 1" stmt=%d results=1`, first+1),
		fmt.Sprintf(`stmt_execute "DO 1" stmt=%d results=1`, first+1),
		fmt.Sprintf(`stmt_prepare "SELECT seq FROM seq_1_to_5" stmt=%d results=1`, first+2),
		fmt.Sprintf(`stmt_execute "SELECT seq FROM seq_1_to_5" stmt=%d results=1`, first+2),
		fmt.Sprintf(`stmt_fetch "SELECT seq FROM seq_1_to_5" stmt=%d results=1 rows=2`, first+2),
		fmt.Sprintf(`stmt_fetch "SELECT seq FROM seq_1_to_5" stmt=%d results=1 rows=2`, first+2),
		fmt.Sprintf(`stmt_fetch "SELECT seq FROM seq_1_to_5" stmt=%d results=1 rows=1`, first+2),
		fmt.Sprintf(`stmt_prepare "SELECT LENGTH(?)" stmt=%d results=1`, first+3),
		fmt.Sprintf(`stmt_send_long_data "SELECT LENGTH(?)" stmt=%d`, first+3),
		fmt.Sprintf(`stmt_send_long_data "SELECT LENGTH(?)" stmt=%d`, first+3),
		fmt.Sprintf(`stmt_execute "SELECT LENGTH(?)" stmt=%d results=1 rows=1 params=['' /* long data, 5 bytes */]`, first+3),
		fmt.Sprintf(`stmt_reset "SELECT LENGTH(?)" stmt=%d results=1`, first+3),
		fmt.Sprintf(`stmt_close "SELECT LENGTH(?)" stmt=%d`, first+3),
		fmt.Sprintf(`stmt_prepare "INSERT INTO raw_t VALUES (?, ?)" stmt=%d results=1`, first+4),
		fmt.Sprintf(`stmt_execute "INSERT INTO raw_t VALUES (?, ?)" stmt=%d results=1 affected=1 params=[10, 'ten']`, first+4),
		fmt.Sprintf(`stmt_bulk_execute "INSERT INTO raw_t VALUES (?, ?)" stmt=%d results=1 affected=3 params=[11, 'eleven', 12, 'twelve', 13, NULL] bulk=3`, first+4),
		`stmt_prepare "SELEC 1" err=1064`,
		`stmt_execute stmt=4294967295 err=1243`,
		`query "SELECT 1; LOAD DATA LOCAL INFILE 'raw.csv' INTO TABLE raw_t …(112 bytes)" results=3 rows=2 affected=2`,
		`query "USE mysql" results=1`,
		`query "USE harness" results=1`,
		`init_db "mysql" results=1`,
		`init_db "no_such_db" err=1049`,
		`init_db "harness" results=1`,
		`ping results=1`,
		`statistics results=1`,
		`set_option results=1`,
		`set_option results=1`,
		`debug results=1`,
		`unknown err=1047`,
		`refresh results=1`,
		`field_list results=1`,
		`query "SELECT 1; SELECT id, v FROM raw_t" results=2 rows=10`,
		`query "DROP PROCEDURE IF EXISTS raw_p" results=1 warnings=1`,
		`query "CREATE PROCEDURE raw_p() BEGIN SELECT 1; SELECT id FROM raw_t; END" results=1`,
		`query "CALL raw_p()" results=3 rows=10`,
		fmt.Sprintf(`stmt_prepare "CALL raw_p()" stmt=%d results=1`, first+6),
		fmt.Sprintf(`stmt_execute "CALL raw_p()" stmt=%d results=3 rows=10`, first+6),
		`reset_connection results=1`,
		fmt.Sprintf(`stmt_execute stmt=%d err=1243 params_undecodable`, first+0), // after RESET_CONNECTION
		`change_user results=1`,
		`query "SELECT DATABASE(), CURRENT_USER()" results=1 rows=1`,
		`query "DROP TABLE harness.raw_t" results=1`,
		`query "DROP PROCEDURE harness.raw_p" results=1`,
		`quit`,
	}
}
