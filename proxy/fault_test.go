package proxy_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/proxy"
)

// requireMySQLError checks err is the MySQL error code/sqlState whose
// message contains want.
func requireMySQLError(t *testing.T, err error, code uint16, sqlState, want string) {
	t.Helper()
	var me *mysql.MySQLError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, code, me.Number)
	assert.Equal(t, sqlState, string(me.SQLState[:]))
	assert.Contains(t, me.Message, want)
}

// TestUpstreamConnectTimeout: an upstream that drops SYNs (a blackhole)
// costs each client one DialTimeout and ends with MySQL error 1105 (08001)
// naming the timeout; the proxy keeps serving.
func TestUpstreamConnectTimeout(t *testing.T) {
	srv := testdb.Require(t)
	checkLeaks(t)
	up := blackhole(t)
	p := startObserved(t, up, proxyOpts{config: func(c *proxy.Config) { c.DialTimeout = 300 * time.Millisecond }})

	db, err := sql.Open("mysql", srv.DSN(p.addr, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	for range 2 {
		err := db.Ping()
		requireMySQLError(t, err, 1105, "08001", "querylens: cannot connect to upstream "+up+": i/o timeout")
	}
	require.NoError(t, db.Close())
	p.waitIdle(t)
	assert.Equal(t, 2.0, p.metric(t, "querylens_upstream_dial_errors_total"))
	assert.Equal(t, 2, p.logs.FilterMessage("upstream unreachable; answering the client with an error").Len())
	p.noErrorLogs(t)
}

// TestUpstreamStallsInHandshake: an upstream that accepts but sends no
// greeting, or half of one, and then stalls: after HandshakeTimeout the
// client gets error 1105 (08001) saying so, and the proxy keeps serving.
func TestUpstreamStallsInHandshake(t *testing.T) {
	srv := testdb.Require(t)
	greeting := protocol.AppendGreeting(nil, "10.11.0-MariaDB", 7, [20]byte{'a', 'b', 'c'})
	for name, prefix := range map[string][]byte{
		"no greeting":     nil,
		"half a greeting": greeting[:len(greeting)/2],
	} {
		t.Run(name, func(t *testing.T) {
			checkLeaks(t)
			up := stallingUpstream(t, prefix)
			p := startObserved(t, up, proxyOpts{config: func(c *proxy.Config) { c.HandshakeTimeout = 300 * time.Millisecond }})
			db, err := sql.Open("mysql", srv.DSN(p.addr, testdb.Schema))
			require.NoError(t, err)
			defer db.Close()
			for range 2 {
				requireMySQLError(t, db.Ping(), 1105, "08001", "querylens: upstream "+up+" sent no greeting: i/o timeout")
			}
			require.NoError(t, db.Close())
			p.waitIdle(t)
			assert.Equal(t, 2.0, p.metric(t, "querylens_upstream_dial_errors_total"))
			p.noErrorLogs(t)
		})
	}
}

// TestClientStallsInHandshake: a client that connects and never answers
// the greeting is closed after HandshakeTimeout, with its upstream leg.
func TestClientStallsInHandshake(t *testing.T) {
	srv := testdb.Require(t)
	checkLeaks(t)
	p := startObserved(t, srv.Addr, proxyOpts{config: func(c *proxy.Config) { c.HandshakeTimeout = 300 * time.Millisecond }})
	nc, err := net.Dial("tcp", p.addr)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(30*time.Second)))
	b, err := io.ReadAll(nc) // the greeting, then EOF once the proxy gives up
	require.NoError(t, err, "the proxy closes the connection, it does not leave it hanging")
	require.Greater(t, len(b), 4)
	assert.Equal(t, byte(10), b[4], "the server's greeting was relayed first")
	p.waitIdle(t)
	assert.Equal(t, 1, p.logs.FilterMessage("login not relayed").Len())
	p.noErrorLogs(t)
}

// TestServerKilledMidResult: the server is killed (SIGKILL) while a
// 1,000,000-row result streams through the proxy. That client gets an
// error; a connection of the same proxy to another server, in the middle
// of its own result, finishes normally; new connections work; the proxy
// logs the cut and closes everything.
func TestServerKilledMidResult(t *testing.T) {
	shared := testdb.Require(t)
	checkLeaks(t)
	victimSrv := throwawayServer(t)
	r := startRouter(t, victimSrv.Addr)
	p := startObserved(t, r.addr(), proxyOpts{})

	victim, err := sql.Open("mysql", victimSrv.DSN(p.addr, testdb.Schema))
	require.NoError(t, err)
	defer victim.Close()
	victim.SetMaxOpenConns(1)
	require.NoError(t, victim.Ping())

	r.routeTo(shared.Addr)
	bystander, err := sql.Open("mysql", shared.DSN(p.addr, testdb.Schema))
	require.NoError(t, err)
	defer bystander.Close()
	bystander.SetMaxOpenConns(1)
	require.NoError(t, bystander.Ping())

	const total = 1_000_000
	vrows, err := victim.Query(fmt.Sprintf("SELECT seq, REPEAT('v', 100) FROM seq_1_to_%d", total))
	require.NoError(t, err)
	brows, err := bystander.Query("SELECT seq FROM seq_1_to_100000")
	require.NoError(t, err)
	read := 0
	for read < 1000 && vrows.Next() {
		read++
	}
	require.Equal(t, 1000, read)
	bread := 0
	for bread < 1000 && brows.Next() {
		bread++
	}

	killServer(t, victimSrv)
	for vrows.Next() {
		read++
	}
	verr := vrows.Err()
	require.Error(t, verr, "the client of the killed server sees an error")
	assert.Less(t, read, total)
	t.Logf("victim read %d of %d rows, then: %v", read, total, verr)

	for brows.Next() {
		bread++
	}
	require.NoError(t, brows.Err())
	assert.Equal(t, 100000, bread, "the other connection's result arrived whole")
	var n int
	require.NoError(t, bystander.QueryRow("SELECT 40 + 2").Scan(&n))
	assert.Equal(t, 42, n)
	fresh, err := sql.Open("mysql", shared.DSN(p.addr, testdb.Schema))
	require.NoError(t, err)
	defer fresh.Close()
	require.NoError(t, fresh.QueryRow("SELECT 6 * 7").Scan(&n))
	assert.Equal(t, 42, n)

	require.NoError(t, victim.Close())
	require.NoError(t, bystander.Close())
	require.NoError(t, fresh.Close())
	p.waitIdle(t)
	cut := p.logs.FilterMessage("upstream closed the connection with a command in flight; closed the client too").All()
	require.Len(t, cut, 1, "the cut connection is logged once, at info")
	assert.EqualValues(t, 1, cut[0].ContextMap()["in_flight"])
	assert.Equal(t, 0.0, p.metric(t, "querylens_connections_open"))
	p.noErrorLogs(t)
}

// TestServerKilledMidLoadData: the server is killed while a LOAD DATA
// LOCAL INFILE of tens of MB streams through the proxy: the client's Exec
// fails instead of hanging, and the proxy closes the connection cleanly.
func TestServerKilledMidLoadData(t *testing.T) {
	testdb.Require(t)
	checkLeaks(t)
	srv := throwawayServer(t)
	p := startObserved(t, srv.Addr, proxyOpts{})
	db, err := sql.Open("mysql", srv.DSN(p.addr, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	_, err = db.Exec("CREATE TABLE loaded (id INT, v VARCHAR(200))")
	require.NoError(t, err)

	halfway := make(chan struct{})
	killed := make(chan struct{})
	const lines = 400_000 // ~ 80 MB
	name := fmt.Sprintf("killed-%d", time.Now().UnixNano())
	// database/sql may retry a failed Exec on a new connection, which asks
	// for a new reader: only the first one signals halfway.
	signal := sync.OnceFunc(func() { close(halfway) })
	mysql.RegisterReaderHandler(name, func() io.Reader {
		return &lineReader{n: lines, at: lines / 8, halfway: signal, resume: killed}
	})
	defer mysql.DeregisterReaderHandler(name)

	res := make(chan error, 1)
	go func() {
		_, err := db.Exec("LOAD DATA LOCAL INFILE 'Reader::" + name + "' INTO TABLE loaded")
		res <- err
	}()
	select {
	case <-halfway:
	case err := <-res:
		t.Fatalf("LOAD DATA ended before the kill: %v", err)
	}
	killServer(t, srv)
	close(killed)
	err = <-res
	require.Error(t, err, "the client sees the server die")
	t.Logf("LOAD DATA after the kill: %v", err)
	require.NoError(t, db.Close())
	p.waitIdle(t)
	assert.Equal(t, 1, p.logs.FilterMessage("upstream closed the connection with a command in flight; closed the client too").Len())
	p.noErrorLogs(t)
}

// lineReader produces n tab-separated lines; after at lines it calls
// halfway and waits for resume to be closed before going on.
type lineReader struct {
	n, at, i int
	halfway  func()
	resume   chan struct{}
	buf      []byte
}

func (r *lineReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.i == r.n {
			return 0, io.EOF
		}
		if r.i == r.at {
			r.halfway()
			<-r.resume
		}
		r.buf = fmt.Appendf(r.buf, "%d\t%s\n", r.i, strings.Repeat("d", 190))
		r.i++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// TestServerClosesIdleConnection: the server drops a connection idle past
// its wait_timeout: the client sees the close (after the server's own
// error packet, if it sends one), and the proxy logs a quiet close by the
// upstream.
func TestServerClosesIdleConnection(t *testing.T) {
	srv := testdb.Require(t)
	checkLeaks(t)
	p := startObserved(t, srv.Addr, proxyOpts{})
	c, err := dialRaw(p.addr)
	require.NoError(t, err)
	defer c.nc.Close()
	require.NoError(t, c.sendQuery("SET SESSION wait_timeout = 1"))
	ok, _, err := c.readPacket()
	require.NoError(t, err)
	require.Equal(t, byte(0), ok[0])

	require.NoError(t, c.nc.SetReadDeadline(time.Now().Add(60*time.Second)))
	rest, err := io.ReadAll(c.nc) // whatever the server says, then EOF
	require.NoError(t, err, "the client sees an orderly close, not a hang or a reset")
	if len(rest) > 4 {
		t.Logf("the server said before closing: %q", rest[4:])
		assert.Equal(t, byte(0xff), rest[4], "only an error packet may precede the close")
	}
	p.waitIdle(t)
	closed := p.logs.FilterMessage("closed").FilterField(zap.String("closed_by", "upstream")).Len()
	assert.Equal(t, 1, closed, "logged as closed by the upstream")
	assert.Equal(t, 0, p.logs.FilterMessage("connection ended with an error").Len())
	p.noErrorLogs(t)
}

// TestClientVanishesMidResult: a client resets its connection while a large
// result streams: the proxy closes the upstream leg, so the server stops
// the statement, and nothing else is disturbed.
func TestClientVanishesMidResult(t *testing.T) {
	srv := testdb.Require(t)
	checkLeaks(t)
	p := startObserved(t, srv.Addr, proxyOpts{})
	root, err := srv.Root()
	require.NoError(t, err)
	defer root.Close()

	const q = "SELECT seq, REPEAT('z', 1000) FROM seq_1_to_1000000 /* vanish */"
	c, err := dialRaw(p.addr)
	require.NoError(t, err)
	require.NoError(t, c.sendQuery(q))
	_, err = c.resultHead()
	require.NoError(t, err)
	for range 1000 {
		_, _, err := c.skipPacket()
		require.NoError(t, err)
	}
	running := func() int {
		var n int
		require.NoError(t, root.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE info = ?", q).Scan(&n))
		return n
	}
	require.Equal(t, 1, running(), "the statement is still running")
	require.NoError(t, c.nc.SetLinger(0)) // close with a reset: the client vanishes
	require.NoError(t, c.nc.Close())

	p.waitIdle(t)
	require.Eventually(t, func() bool { return running() == 0 }, 30*time.Second, 20*time.Millisecond,
		"the server stops the statement once the proxy closes its leg")
	other, err := dialRaw(p.addr)
	require.NoError(t, err)
	got, err := other.query("SELECT 'still serving'")
	require.NoError(t, err)
	assert.Equal(t, []string{"still serving"}, got)
	other.quit()
	p.waitIdle(t)
	assert.Equal(t, 0, p.logs.FilterMessage("connection ended with an error").Len(),
		"a vanished client is an ordinary close")
	p.noErrorLogs(t)
}

// TestSlowClientBackpressure: a client that stops reading a 200 MB result
// stops the server too: the proxy holds only its fixed buffers (heap
// growth stays far below the result), it relays far less than the result,
// and the server still has the statement running, blocked on sending.
// Then the client reads the rest, which arrives whole.
func TestSlowClientBackpressure(t *testing.T) {
	srv := testdb.Require(t)
	checkLeaks(t)
	p := startObserved(t, srv.Addr, proxyOpts{})
	root, err := srv.Root()
	require.NoError(t, err)
	defer root.Close()

	c, err := dialRaw(p.addr)
	require.NoError(t, err)
	defer c.nc.Close()
	const rows = 200
	q := fmt.Sprintf("SELECT REPEAT('x', 1 << 20) FROM seq_1_to_%d /* slow reader */", rows)
	heapBefore := heapInuse()
	relayedBefore := p.metric(t, "querylens_relay_bytes_total", "direction", "server_to_client")

	require.NoError(t, c.sendQuery(q))
	_, err = c.resultHead()
	require.NoError(t, err)
	got := 0
	for got < 10 {
		_, _, err := c.skipPacket()
		require.NoError(t, err)
		got++
	}

	// The client pauses. Wait for the relay to stall: the relayed byte
	// count stops moving once every buffer between server and client is
	// full.
	var relayed float64
	require.Eventually(t, func() bool {
		a := p.metric(t, "querylens_relay_bytes_total", "direction", "server_to_client")
		time.Sleep(200 * time.Millisecond)
		relayed = p.metric(t, "querylens_relay_bytes_total", "direction", "server_to_client")
		return a == relayed
	}, 30*time.Second, 10*time.Millisecond, "the relay stalls while the client does not read")
	const result = rows << 20
	stalledAt := relayed - relayedBefore
	t.Logf("relayed %.1f MiB of a %d MiB result while the client paused", stalledAt/(1<<20), result>>20)
	assert.Less(t, stalledAt, float64(result)/4, "the proxy does not read ahead of its client")

	var state, info string
	require.NoError(t, root.QueryRow("SELECT state, info FROM information_schema.processlist WHERE info = ?", q).Scan(&state, &info),
		"the statement is still running on the server")
	t.Logf("server-side state while the client pauses: %q", state)
	assert.Contains(t, []string{"Writing to net", "Sending to client", "Sending data"}, state,
		"the server is blocked sending")

	heapStalled := heapInuse()
	growth := int64(heapStalled) - int64(heapBefore)
	t.Logf("heap in use: %.1f MiB before, %.1f MiB with the result stalled (growth %.1f MiB)",
		float64(heapBefore)/(1<<20), float64(heapStalled)/(1<<20), float64(growth)/(1<<20))
	assert.Less(t, growth, int64(64<<20), "memory stays bounded")

	for {
		n, first, err := c.skipPacket()
		require.NoError(t, err)
		if isEOF(n, first) {
			break
		}
		require.Equal(t, 4+1<<20, n, "each row is a 1 MiB string") // lenenc prefix 0xfd + 3 bytes
		got++
	}
	assert.Equal(t, rows, got)
	heapAfter := heapInuse()
	assert.Less(t, int64(heapAfter)-int64(heapBefore), int64(64<<20))
	c.quit()
	p.waitIdle(t)
	p.noErrorLogs(t)
}

// TestHalfClose: a client that shuts down its sending side (TCP FIN) still
// receives everything owed to it, then the proxy closes cleanly.
func TestHalfClose(t *testing.T) {
	srv := testdb.Require(t)
	checkLeaks(t)
	p := startObserved(t, srv.Addr, proxyOpts{})

	t.Run("after COM_QUIT", func(t *testing.T) {
		c, err := dialRaw(p.addr)
		require.NoError(t, err)
		defer c.nc.Close()
		require.NoError(t, c.writePacket(0, []byte{1}))
		require.NoError(t, c.nc.CloseWrite())
		require.NoError(t, c.nc.SetReadDeadline(time.Now().Add(30*time.Second)))
		rest, err := io.ReadAll(c.nc)
		require.NoError(t, err)
		assert.Empty(t, rest, "COM_QUIT has no answer: just the close")
		p.waitIdle(t)
	})

	t.Run("mid-command", func(t *testing.T) {
		c, err := dialRaw(p.addr)
		require.NoError(t, err)
		defer c.nc.Close()
		const rows = 50000
		require.NoError(t, c.sendQuery(fmt.Sprintf("SELECT seq FROM seq_1_to_%d", rows)))
		require.NoError(t, c.nc.CloseWrite())
		require.NoError(t, c.nc.SetReadDeadline(time.Now().Add(30*time.Second)))
		_, err = c.resultHead()
		require.NoError(t, err)
		got := 0
		for {
			n, first, err := c.skipPacket()
			require.NoError(t, err)
			if isEOF(n, first) {
				break
			}
			got++
		}
		assert.Equal(t, rows, got, "the whole result arrived after the client's FIN")
		rest, err := io.ReadAll(c.nc)
		require.NoError(t, err)
		assert.Empty(t, rest, "then the connection closes")
		p.waitIdle(t)
	})

	closed := p.logs.FilterMessage("closed").FilterField(zap.String("closed_by", "client")).Len()
	assert.Equal(t, 2, closed, "both logged as closed by the client")
	assert.Equal(t, 0, p.logs.FilterMessage("connection ended with an error").Len())
	p.noErrorLogs(t)
}

// TestShutdownTimeoutClosesBusy: a command still running when Shutdown's
// context ends is cut: Shutdown reports the deadline, the client gets an
// error, and nothing is left open.
func TestShutdownTimeoutClosesBusy(t *testing.T) {
	srv := testdb.Require(t)
	checkLeaks(t)
	p := startObserved(t, srv.Addr, proxyOpts{})
	root, err := srv.Root()
	require.NoError(t, err)
	defer root.Close()
	db, err := sql.Open("mysql", srv.DSN(p.addr, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	// Unique per run: with -count, an earlier run's SLEEP may still be on
	// the server's process list.
	q := fmt.Sprintf("SELECT SLEEP(3) /* busy at shutdown %d */", time.Now().UnixNano())
	res := make(chan error, 1)
	go func() {
		var v int
		res <- db.QueryRow(q).Scan(&v)
	}()
	require.Eventually(t, func() bool {
		var n int
		return root.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE info = ?", q).Scan(&n) == nil && n == 1
	}, 10*time.Second, 5*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = p.srv.Shutdown(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Error(t, <-res, "the busy client was cut")
	assert.Equal(t, 0, p.srv.OpenConns())
	require.NoError(t, db.Close())
	p.noErrorLogs(t)
}

// TestDecoderPanicRecovered: a panic inside one connection's decoding
// (raised here by the sink, which the decoder calls for each event) is
// recovered and counted; that connection keeps relaying, undecoded, and
// other connections are still decoded.
func TestDecoderPanicRecovered(t *testing.T) {
	srv := testdb.Require(t)
	checkLeaks(t)
	sink := &panickySink{trigger: "SELECT 'boom'"}
	p := startObserved(t, srv.Addr, proxyOpts{sink: sink})

	db, err := sql.Open("mysql", srv.DSN(p.addr, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	var s string
	require.NoError(t, db.QueryRow("SELECT 'before'").Scan(&s))
	require.NoError(t, db.QueryRow("SELECT 'boom'").Scan(&s))
	assert.Equal(t, "boom", s, "the statement whose event panicked got its result")
	for i := range 3 {
		var n int
		require.NoError(t, db.QueryRow("SELECT ? + 1", i).Scan(&n))
		assert.Equal(t, i+1, n)
	}
	var big string
	require.NoError(t, db.QueryRow("SELECT REPEAT('q', 5000000)").Scan(&big))
	assert.Len(t, big, 5000000)

	other, err := sql.Open("mysql", srv.DSN(p.addr, testdb.Schema))
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, other.QueryRow("SELECT 'other connection'").Scan(&s))

	require.NoError(t, db.Close())
	require.NoError(t, other.Close())
	p.waitIdle(t)
	assert.Equal(t, 1.0, p.metric(t, "querylens_decoder_panics_total"))
	logged := p.logs.FilterMessage("decoder panicked; decoding off for this connection, relay continues").Len()
	assert.Equal(t, 1, logged)
	seen := sink.seen()
	assert.Contains(t, seen, "SELECT 'before'")
	assert.Contains(t, seen, "SELECT 'other connection'", "other connections are still decoded")
	assert.NotContains(t, seen, "SELECT 1 + 1", "decoding stays off on the connection that panicked")
}

// panickySink panics on the event of one statement and records the others.
type panickySink struct {
	trigger string
	mu      sync.Mutex
	sqls    []string
}

func (s *panickySink) Observe(ev *protocol.Event) {
	if ev.SQL == s.trigger {
		panic("test: decoder blew up on " + ev.SQL)
	}
	s.mu.Lock()
	s.sqls = append(s.sqls, ev.SQL)
	s.mu.Unlock()
}

func (s *panickySink) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sqls...)
}

// TestMaxConnections: beyond MaxConnections a client gets what mysqld
// sends beyond max_connections, error 1040 (08004) "Too many connections",
// as go-sql-driver and the mariadb CLI report it; refusals are counted and
// the proxy accepts again once a connection ends.
func TestMaxConnections(t *testing.T) {
	srv := testdb.Require(t)
	checkLeaks(t)
	p := startObserved(t, srv.Addr, proxyOpts{config: func(c *proxy.Config) { c.MaxConnections = 2 }})

	var held []*rawClient
	for range 2 {
		c, err := dialRaw(p.addr)
		require.NoError(t, err)
		held = append(held, c)
	}
	db, err := sql.Open("mysql", srv.DSN(p.addr, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	requireMySQLError(t, db.Ping(), 1040, "08004", "Too many connections")

	if out, ok := mariadbCLI(t, p.addr, "SELECT 1"); ok {
		assert.Contains(t, out, "ERROR 1040 (08004): Too many connections")
		assert.Equal(t, 2.0, p.metric(t, "querylens_connections_rejected_total", "reason", "max_connections"))
	}
	assert.Equal(t, 2, p.srv.OpenConns(), "refused clients are not counted as served")

	held[0].quit()
	require.Eventually(t, func() bool { return db.Ping() == nil }, 10*time.Second, 20*time.Millisecond,
		"a slot freed up: the next client is served")
	require.NoError(t, db.Close())
	held[1].quit()
	p.waitIdle(t)
	assert.GreaterOrEqual(t, p.metric(t, "querylens_connections_rejected_total", "reason", "max_connections"), 1.0)
	p.noErrorLogs(t)
}

// flakyListener fails its first n Accept calls with a temporary error, as
// a listener out of file descriptors does.
type flakyListener struct {
	net.Listener
	mu sync.Mutex
	n  int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	fail := l.n > 0
	if fail {
		l.n--
	}
	l.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: errTooManyFiles}
	}
	return l.Listener.Accept()
}

var errTooManyFiles = errors.New("accept4: too many open files")

// TestAcceptErrorBackoff: accept errors are backed off and counted, logged
// on the 1st, 2nd and 4th error in a row (not on every one), and the proxy
// serves again once accept recovers.
func TestAcceptErrorBackoff(t *testing.T) {
	srv := testdb.Require(t)
	checkLeaks(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	const failures = 6
	p := startObserved(t, srv.Addr, proxyOpts{listener: &flakyListener{Listener: l, n: failures}})

	db, err := sql.Open("mysql", srv.DSN(p.addr, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&n), "served once accept works again")
	require.NoError(t, db.Close())
	p.waitIdle(t)

	assert.Equal(t, float64(failures), p.metric(t, "querylens_accept_errors_total"))
	warned := p.logs.FilterMessage("accept failed; backing off").All()
	var counts []int64
	for _, e := range warned {
		counts = append(counts, e.ContextMap()["failures_in_a_row"].(int64))
	}
	assert.Equal(t, []int64{1, 2, 4}, counts, "logged on the 1st, 2nd and 4th failure in a row")
	again := p.logs.FilterMessage("accepting again").All()
	require.Len(t, again, 1)
	assert.EqualValues(t, failures, again[0].ContextMap()["failures_in_a_row"])
	p.noErrorLogs(t)
}

// heapInuse returns the heap in use after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// mariadbCLI runs the mariadb client against addr; ok is false when it is
// not installed.
func mariadbCLI(t *testing.T, addr, sqlText string) (out string, ok bool) {
	t.Helper()
	cli, err := exec.LookPath("mariadb")
	if err != nil {
		return "", false
	}
	host, port, _ := net.SplitHostPort(addr)
	b, _ := exec.Command(cli, "--no-defaults", "-h", host, "-P", port, "-u", testdb.User, "-p"+testdb.Password, "-e", sqlText).CombinedOutput()
	return string(bytes.TrimSpace(b)), true
}

// TestRelayBytesMetric: querylens_relay_bytes_total counts exactly the
// bytes relayed each way (the event loops add theirs up and publish them
// when they yield or wait).
func TestRelayBytesMetric(t *testing.T) {
	srv := testdb.Require(t)
	p := startObserved(t, srv.Addr, proxyOpts{})
	c, err := dialRaw(p.addr)
	require.NoError(t, err)
	defer c.nc.Close()
	bytesOf := func(dir string) float64 { return p.metric(t, "querylens_relay_bytes_total", "direction", dir) }
	// The login's bytes may still be on their way into the metric.
	var up0, down0 float64
	require.Eventually(t, func() bool {
		a, b := bytesOf("client_to_server"), bytesOf("server_to_client")
		time.Sleep(50 * time.Millisecond)
		up0, down0 = bytesOf("client_to_server"), bytesOf("server_to_client")
		return a == up0 && b == down0 && up0 > 0
	}, 10*time.Second, 10*time.Millisecond)

	var sent, received int
	for i := range 5 {
		q := fmt.Sprintf("SELECT REPEAT('x', %d) /* %d */", 30000*(i+1), i)
		require.NoError(t, c.sendQuery(q))
		sent += 4 + 1 + len(q)
		// Column count, column definition, EOF, row, EOF.
		for eofs := 0; eofs < 2; {
			pkt, _, err := c.readPacket()
			require.NoError(t, err)
			received += 4 + len(pkt)
			if len(pkt) > 0 && pkt[0] == 0xfe && len(pkt) < 9 {
				eofs++
			}
		}
	}
	assert.Eventually(t, func() bool {
		return bytesOf("client_to_server")-up0 == float64(sent) && bytesOf("server_to_client")-down0 == float64(received)
	}, 10*time.Second, 10*time.Millisecond, "relayed %d and %d bytes", sent, received)
}
