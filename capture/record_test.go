package capture_test

import (
	"bufio"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
)

// record rewrites testdata/*.pcap from a throwaway MariaDB:
//
//	go test ./capture/ -run TestRecordTestdata -record
var record = flag.Bool("record", false, "record testdata/*.pcap with tcpdump from a throwaway MariaDB (needs root)")

func TestMain(m *testing.M) { os.Exit(testdb.RunMain(m)) }

// The workloads behind the recorded captures; the tests that read them
// expect exactly these counts.
const (
	sessionInserts  = 6 // text INSERTs
	sessionSelects  = 5 // text SELECTs returning rows
	sessionErrors   = 2 // SELECTs of a missing table
	sessionPrepared = 4 // executions of one prepared statement
	midBefore       = 3 // statements of each shape before the capture starts
	midAfter        = 4 // statements of each shape after it starts
)

// TestRecordTestdata records the small captures the other tests read.
func TestRecordTestdata(t *testing.T) {
	if !*record {
		t.Skip("run with -record to rewrite testdata/*.pcap")
	}
	srv := testdb.Require(t)
	_, port, err := net.SplitHostPort(srv.Addr)
	require.NoError(t, err)
	dsn := func(edit func(*mysql.Config)) string {
		c, err := mysql.ParseDSN(srv.DSN("", testdb.Schema))
		require.NoError(t, err)
		if edit != nil {
			edit(c)
		}
		return c.FormatDSN()
	}
	ctx := context.Background()
	var dbs []*sql.DB
	conn := func(d string) *sql.Conn {
		db, err := sql.Open("mysql", d)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
		c, err := db.Conn(ctx)
		require.NoError(t, err)
		return c
	}
	// closeAll ends the connections opened so far: COM_QUIT, then FIN.
	closeAll := func() {
		for _, db := range dbs {
			require.NoError(t, db.Close())
		}
		dbs = nil
	}
	query := func(c *sql.Conn, q string, args ...any) error {
		rows, err := c.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		return rows.Close()
	}
	must := func(c *sql.Conn, q string, args ...any) {
		t.Helper()
		require.NoError(t, query(c, q, args...), q)
	}
	setup := conn(dsn(nil))
	must(setup, "DROP TABLE IF EXISTS cap_items")
	must(setup, "CREATE TABLE cap_items (id INT PRIMARY KEY, name VARCHAR(40))")
	require.NoError(t, setup.Close())
	closeAll()

	// A whole session: handshake, text statements, errors, a prepared
	// statement executed several times, and the closing COM_QUIT.
	session := func(c *sql.Conn, table string) {
		for i := range sessionInserts {
			must(c, "INSERT INTO cap_items VALUES (?, ?) ON DUPLICATE KEY UPDATE name = VALUES(name)", i, fmt.Sprint("n", i))
		}
		for i := range sessionSelects {
			must(c, "SELECT id, name FROM cap_items WHERE id >= ? ORDER BY id", i)
		}
		for i := range sessionErrors {
			require.Error(t, query(c, "SELECT * FROM "+table+" WHERE id = ?", i))
		}
	}
	serverPort, err := strconv.Atoi(port)
	require.NoError(t, err)
	capture := func(name string, run func()) {
		file := filepath.Join("testdata", name)
		stop := tcpdump(t, port, file)
		run()
		stop()
		// The server's random port becomes 3306, the default the tests use.
		pkts := readPackets(t, file)
		for i, p := range pkts {
			s := decodeSeg(t, p)
			if int(s.tcp.SrcPort) == serverPort {
				s.tcp.SrcPort = 3306
			}
			if int(s.tcp.DstPort) == serverPort {
				s.tcp.DstPort = 3306
			}
			pkts[i] = s.encode(t)
		}
		require.NoError(t, os.WriteFile(file, writePcap(t, pkts), 0o644))
	}
	capture("session.pcap", func() {
		c := conn(dsn(nil))
		session(c, "cap_missing")
		p := conn(dsn(func(c *mysql.Config) { c.InterpolateParams = false }))
		for i := range sessionPrepared {
			must(p, "SELECT name FROM cap_items WHERE id = ?", i)
		}
		require.NoError(t, c.Close())
		require.NoError(t, p.Close())
		closeAll()
	})
	capture("compressed.pcap", func() {
		c := conn(dsn(func(c *mysql.Config) { require.NoError(t, c.Apply(mysql.EnableCompression(true))) }))
		session(c, "cap_missing_zip")
		require.NoError(t, c.Close())
		closeAll()
	})
	text := conn(dsn(nil))
	bin := conn(dsn(func(c *mysql.Config) { c.InterpolateParams = false }))
	mid := func(n int) {
		for i := range n {
			must(text, "SELECT name FROM cap_items WHERE id = ?", i)
			must(text, "SELECT id, name FROM cap_items WHERE id > ? ORDER BY id", i)
			must(bin, "SELECT id FROM cap_items WHERE name = ?", fmt.Sprint("n", i))
		}
	}
	mid(midBefore)
	capture("midstream.pcap", func() { mid(midAfter) })
}

// tcpdump records the TCP traffic of port on lo into file until stop.
func tcpdump(t *testing.T, port, file string) (stop func()) {
	t.Helper()
	cmd := exec.Command("tcpdump", "-i", "lo", "--immediate-mode", "-B", "65536", "-w", file, "-U", "-s", "0", "tcp port "+port)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "listening on") {
	}
	return func() {
		var size int64 = -1
		for range 50 {
			time.Sleep(100 * time.Millisecond)
			if fi, err := os.Stat(file); err == nil {
				if fi.Size() == size {
					break
				}
				size = fi.Size()
			}
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		for sc.Scan() {
			t.Log(sc.Text())
		}
		_ = cmd.Wait()
	}
}
