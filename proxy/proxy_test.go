package proxy_test

import (
	"context"
	"database/sql"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
)

// TestTransparency checks the relay is byte-exact in both directions over a
// real session: every byte the client wrote reached the server unchanged and
// every byte the server sent reached the client unchanged, including a
// multi-statement batch, errors and a row larger than one 16 MiB packet.
func TestTransparency(t *testing.T) {
	srv := testdb.Require(t)
	tp := startTap(t, srv.Addr)
	sink := &eventSink{}
	_, addr := startProxy(t, tp.addr(), sink)

	var client recorder
	db, err := sql.Open("mysql", recordingDSN(t, srv, addr, &client))
	require.NoError(t, err)
	db.SetMaxOpenConns(1)

	_, err = db.Exec("CREATE TABLE IF NOT EXISTS transp (id INT PRIMARY KEY, v VARCHAR(64))")
	require.NoError(t, err)
	_, err = db.Exec("DELETE FROM transp")
	require.NoError(t, err)
	for i := range 20 {
		_, err := db.Exec("INSERT INTO transp VALUES (?, ?)", i, strings.Repeat("x", i))
		require.NoError(t, err)
	}
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM transp WHERE id > ?", 4).Scan(&n))
	assert.Equal(t, 15, n)
	_, err = db.Exec("SELECT * FROM no_such_table")
	require.Error(t, err)
	_, err = db.Exec("UPDATE transp SET v = 'y' WHERE id < 3; DELETE FROM transp WHERE id = 19; SELECT 1")
	require.NoError(t, err)

	var big string
	require.NoError(t, db.QueryRow("SELECT REPEAT('a', 16777216 + 1000)").Scan(&big))
	assert.Len(t, big, 16777216+1000)
	require.NoError(t, db.Close())

	require.Eventually(t, func() bool {
		r, w := client.snapshot()
		sr, sw := tp.rec.snapshot()
		return len(r) == len(sr) && len(w) == len(sw)
	}, 10*time.Second, 10*time.Millisecond, "both sides should have seen the same amount of traffic")
	clientRead, clientWrote := client.snapshot()
	serverSent, serverGot := tp.rec.snapshot()
	require.Greater(t, len(clientRead), 16<<20)
	// assert.Equal on 16 MiB slices prints too much on failure; compare first.
	assert.True(t, string(clientRead) == string(serverSent), "client received %d bytes, server sent %d, first difference at %d",
		len(clientRead), len(serverSent), firstDiff(clientRead, serverSent))
	assert.True(t, string(clientWrote) == string(serverGot), "client sent %d bytes, server received %d, first difference at %d",
		len(clientWrote), len(serverGot), firstDiff(clientWrote, serverGot))

	// The decoder saw the statements on the side.
	var sawBatch, sawErr, sawBig bool
	for _, ev := range sink.all() {
		switch {
		case strings.HasPrefix(ev.SQL, "UPDATE transp SET v = 'y'"):
			sawBatch = ev.Results == 3 && ev.ErrorCode == 0
		case ev.SQL == "SELECT * FROM no_such_table":
			sawErr = ev.ErrorCode == 1146
		case strings.HasPrefix(ev.SQL, "SELECT REPEAT"):
			sawBig = ev.RowsSent == 1 && ev.BytesOut > 16<<20
		}
	}
	assert.True(t, sawBatch, "multi-statement batch decoded as one event with 3 results")
	assert.True(t, sawErr, "error 1146 decoded")
	assert.True(t, sawBig, "16 MiB row decoded as one row")
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// TestUpstreamDown checks a client gets a MySQL error naming querylens and
// the upstream while the upstream is down, that the proxy keeps serving, and
// that connections succeed once the upstream is back.
func TestUpstreamDown(t *testing.T) {
	srv := testdb.Require(t)
	// Reserve a port, then free it: nothing listens there for now.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	upstream := l.Addr().String()
	require.NoError(t, l.Close())

	_, addr := startProxy(t, upstream, nil)
	db, err := sql.Open("mysql", srv.DSN(addr, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()

	for range 3 { // the proxy keeps serving after each refusal
		err = db.Ping()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "querylens")
		assert.Contains(t, err.Error(), upstream)
		assert.Contains(t, err.Error(), "Error 1105 (08001)")
	}

	if cli, err := exec.LookPath("mariadb"); err == nil {
		host, port, _ := net.SplitHostPort(addr)
		out, err := exec.Command(cli, "--no-defaults", "-h", host, "-P", port, "-u", testdb.User,
			"-p"+testdb.Password, "-e", "SELECT 1").CombinedOutput()
		require.Error(t, err)
		assert.Contains(t, string(out), "ERROR 1105 (08001): querylens: cannot connect to upstream "+upstream)
	}

	// The upstream comes back (a plain forwarder to the real server on the
	// same address).
	back, err := net.Listen("tcp", upstream)
	require.NoError(t, err)
	fwd := &tap{l: back, upstream: srv.Addr}
	go fwd.accept()
	t.Cleanup(func() { back.Close(); fwd.wg.Wait() })

	var one int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&one))
	assert.Equal(t, 1, one)
}

// TestUnixSockets relays from a unix listener to the server's unix socket.
func TestUnixSockets(t *testing.T) {
	srv := testdb.Require(t)
	sock := filepath.Join(t.TempDir(), "ql.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	sink := &eventSink{}
	serveOn(t, l, "unix:"+srv.Socket, sink)

	db, err := sql.Open("mysql", srv.DSN("unix:"+sock, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	var user string
	require.NoError(t, db.QueryRow("SELECT CURRENT_USER()").Scan(&user))
	assert.Equal(t, testdb.User+"@localhost", user)
	require.NoError(t, db.Close())
	require.Eventually(t, func() bool {
		for _, ev := range sink.all() {
			if ev.SQL == "SELECT CURRENT_USER()" && ev.ClientAddr == "unix" && ev.User == testdb.User {
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)
}

// TestShutdownDrains checks Shutdown stops accepting, lets a command in
// flight finish with its full result, and closes idle connections.
func TestShutdownDrains(t *testing.T) {
	srv := testdb.Require(t)
	sink := &eventSink{}
	p, addr := startProxy(t, srv.Addr, sink)

	busy, err := sql.Open("mysql", srv.DSN(addr, testdb.Schema))
	require.NoError(t, err)
	defer busy.Close()
	idle, err := sql.Open("mysql", srv.DSN(addr, testdb.Schema))
	require.NoError(t, err)
	defer idle.Close()
	require.NoError(t, idle.Ping())
	require.NoError(t, busy.Ping())

	result := make(chan error, 1)
	go func() {
		var v int
		err := busy.QueryRow("SELECT SLEEP(1) + 41").Scan(&v)
		if err == nil && v != 41 {
			err = assert.AnError
		}
		result <- err
	}()
	// Wait until the query is on the wire.
	root, err := srv.Root()
	require.NoError(t, err)
	defer root.Close()
	require.Eventually(t, func() bool {
		var n int
		err := root.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE info = ?", "SELECT SLEEP(1) + 41").Scan(&n)
		return err == nil && n == 1
	}, 5*time.Second, 5*time.Millisecond, "the query should be running on the server")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Shutdown(ctx))
	require.NoError(t, <-result, "the command in flight finished normally")
	assert.Equal(t, 0, p.OpenConns())

	_, err = net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "no new connections after shutdown")
}
