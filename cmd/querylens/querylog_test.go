package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
)

// TestQueryLogFile: with a 100ms slow threshold and no sampling, only the
// slow statement reaches the query log file, as one JSON line without any
// literal.
func TestQueryLogFile(t *testing.T) {
	srv := testdb.Require(t)
	path := filepath.Join(t.TempDir(), "queries.log")
	ql := startQuerylens(t, srv.Addr, "--query-log", path, "--slow-threshold", "100ms", "--query-log-sample", "0")
	db, err := sql.Open("mysql", srv.DSN(ql.listen, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	var s string
	for range 5 {
		require.NoError(t, db.QueryRow("SELECT 'fast-secret-1234' AS v").Scan(&s))
	}
	var slept int
	require.NoError(t, db.QueryRow("SELECT SLEEP(0.2) + LENGTH('slow-secret-5678')").Scan(&slept))
	require.NoError(t, db.Close())
	getDigests(t, ql.http, "") // flushes the stats writer, which writes the log
	require.NoError(t, ql.stop())

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		assert.NotContains(t, sc.Text(), "secret", "no literal in the query log")
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		lines = append(lines, m)
	}
	require.Len(t, lines, 1, "only the slow statement")
	l := lines[0]
	assert.Equal(t, true, l["slow"])
	assert.Equal(t, "select sleep(...) + length(...)", l["fingerprint"])
	assert.GreaterOrEqual(t, l["duration_seconds"].(float64), 0.2)
	assert.Equal(t, testdb.User, l["user"])
	assert.Equal(t, testdb.Schema, l["schema"])
	assert.True(t, strings.HasPrefix(l["client"].(string), "127.0.0.1:"))
	for _, k := range []string{"ts", "digest", "conn_id", "rows_sent", "command"} {
		assert.Contains(t, l, k)
	}
}

// TestQueryLogSIGHUP: SIGHUP rotates the query log file: the entries so far
// move to a backup and new ones go to a fresh file.
func TestQueryLogSIGHUP(t *testing.T) {
	srv := testdb.Require(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "queries.log")
	ql := startQuerylens(t, srv.Addr, "--query-log", path, "--query-log-sample", "1")
	db, err := sql.Open("mysql", srv.DSN(ql.listen, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow("SELECT 1 AS before_hup").Scan(&n))
	getDigests(t, ql.http, "")

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "queries-*.log"))
		return len(m) == 1
	}, 5*time.Second, 10*time.Millisecond, "a backup file appears")
	require.NoError(t, db.QueryRow("SELECT 2 AS after_hup").Scan(&n))
	getDigests(t, ql.http, "")

	cur, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(cur), "after_hup")
	assert.NotContains(t, string(cur), "before_hup")
	backups, _ := filepath.Glob(filepath.Join(dir, "queries-*.log"))
	old, err := os.ReadFile(backups[0])
	require.NoError(t, err)
	assert.Contains(t, string(old), "before_hup")
}
