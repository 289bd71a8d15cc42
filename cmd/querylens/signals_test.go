package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/stats"
)

// child is the real querylens binary running as a child process.
type child struct {
	cmd          *exec.Cmd
	listen, http string
	logs         *syncBuffer
	exited       chan struct{}
	err          error // Wait's result, once exited is closed
}

// buildQuerylens builds the command into a temporary directory.
func buildQuerylens(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "querylens")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// startChild runs bin against upstream and waits until it serves; it is
// killed (by its pid) at the end of the test if still running.
func startChild(t *testing.T, bin, upstream string, extra ...string) *child {
	t.Helper()
	c := &child{listen: freeAddr(t), http: freeAddr(t), logs: &syncBuffer{}, exited: make(chan struct{})}
	args := append([]string{"--listen", c.listen, "--upstream", upstream, "--http", c.http, "--log-format", "json"}, extra...)
	c.cmd = exec.Command(bin, args...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	require.NoError(t, c.cmd.Start())
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			t.Logf("querylens output:\n%s", c.logs.String())
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + c.http + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 20*time.Second, 20*time.Millisecond, "querylens did not come up")
	return c
}

func (c *child) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, syscall.Kill(c.cmd.Process.Pid, sig))
}

// wait waits for the process to exit and returns its exit code.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-c.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("querylens did not exit")
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, c.err)
	return 0
}

// logHas reports whether the JSON log holds an entry with message msg.
func (c *child) logHas(msg string) bool {
	return strings.Contains(c.logs.String(), `"msg":"`+msg)
}

// runningOn waits until sql is running on the server.
func runningOn(t *testing.T, srv *testdb.Server, q string) {
	t.Helper()
	root, err := srv.Root()
	require.NoError(t, err)
	defer root.Close()
	require.Eventually(t, func() bool {
		var n int
		return root.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE info = ?", q).Scan(&n) == nil && n == 1
	}, 10*time.Second, 5*time.Millisecond, "%q should be running on the server", q)
}

// TestSignals runs the real binary as a child process and signals it by
// pid: SIGHUP rotates the query log; SIGTERM stops accepting, lets the
// command in flight finish with its result, closes idle connections, saves
// the state (including the drained command) and exits 0; and a command
// longer than --shutdown-timeout is cut when the timeout ends.
func TestSignals(t *testing.T) {
	srv := testdb.Require(t)
	bin := buildQuerylens(t)

	t.Run("SIGHUP then SIGTERM drains", func(t *testing.T) {
		dir := t.TempDir()
		qlog, state := filepath.Join(dir, "queries.log"), filepath.Join(dir, "state.json")
		ql := startChild(t, bin, srv.Addr, "--query-log", qlog, "--query-log-sample", "1",
			"--state-file", state, "--shutdown-timeout", "30s")

		db, err := sql.Open("mysql", srv.DSN(ql.listen, testdb.Schema))
		require.NoError(t, err)
		defer db.Close()
		var n int
		require.NoError(t, db.QueryRow("SELECT 1 AS before_hup").Scan(&n))
		getDigests(t, ql.http, "") // the stats writer has written the log line

		ql.signal(t, syscall.SIGHUP)
		require.Eventually(t, func() bool {
			m, _ := filepath.Glob(filepath.Join(dir, "queries-*.log"))
			return len(m) == 1
		}, 10*time.Second, 10*time.Millisecond, "SIGHUP moves the log to a backup")
		require.NoError(t, db.QueryRow("SELECT 2 AS after_hup").Scan(&n))
		getDigests(t, ql.http, "")
		cur, err := os.ReadFile(qlog)
		require.NoError(t, err)
		assert.Contains(t, string(cur), "after_hup")
		assert.NotContains(t, string(cur), "before_hup")
		assert.True(t, ql.logHas("SIGHUP: query log rotated"))

		ctx := context.Background()
		busy, err := db.Conn(ctx)
		require.NoError(t, err)
		defer busy.Close()
		idle, err := db.Conn(ctx)
		require.NoError(t, err)
		defer idle.Close()
		require.NoError(t, idle.PingContext(ctx))

		const q = "SELECT SLEEP(1) + 41 AS in_flight"
		res := make(chan error, 1)
		go func() {
			var v int
			err := busy.QueryRowContext(ctx, q).Scan(&v)
			if err == nil && v != 41 {
				err = errors.New("wrong result")
			}
			res <- err
		}()
		runningOn(t, srv, q)

		ql.signal(t, syscall.SIGTERM)
		require.Eventually(t, func() bool {
			c, err := net.DialTimeout("tcp", ql.listen, time.Second)
			if err == nil {
				c.Close()
			}
			return err != nil
		}, 10*time.Second, 5*time.Millisecond, "no new connections once SIGTERM arrived")
		require.NoError(t, <-res, "the command in flight finished with its result")
		assert.Equal(t, 0, ql.wait(t), "exit code")
		assert.Error(t, idle.PingContext(ctx), "the idle connection was closed")

		assert.True(t, ql.logHas("shutting down"))
		assert.True(t, ql.logHas("state saved"))
		b, err := os.ReadFile(state)
		require.NoError(t, err)
		var snap stats.Snapshot
		require.NoError(t, json.Unmarshal(b, &snap))
		counts := map[string]uint64{}
		for _, d := range snap.Digests {
			counts[d.Fingerprint] += d.Count
		}
		assert.Equal(t, uint64(1), counts["select ? as before_hup"], "%v", counts)
		assert.Equal(t, uint64(1), counts["select sleep(...) + ? as in_flight"], "the drained command is in the saved state: %v", counts)
	})

	t.Run("SIGTERM with a command past the shutdown timeout", func(t *testing.T) {
		ql := startChild(t, bin, srv.Addr, "--shutdown-timeout", "300ms")
		db, err := sql.Open("mysql", srv.DSN(ql.listen, testdb.Schema))
		require.NoError(t, err)
		defer db.Close()
		const q = "SELECT SLEEP(5) AS past_the_timeout"
		res := make(chan error, 1)
		go func() {
			var v int
			res <- db.QueryRow(q).Scan(&v)
		}()
		runningOn(t, srv, q)
		ql.signal(t, syscall.SIGTERM)
		assert.Error(t, <-res, "the command was cut at the timeout")
		assert.Equal(t, 0, ql.wait(t), "exit code")
		assert.True(t, ql.logHas("shutdown timeout reached; closed busy connections"))
	})
}
