package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
)

func TestMaxConnectionsFlag(t *testing.T) {
	cfg, err := parseRun(nil)
	require.NoError(t, err)
	assert.Equal(t, 0, cfg.maxConnections, "no limit of its own by default")

	t.Setenv("QUERYLENS_MAX_CONNECTIONS", "250")
	cfg, err = parseRun(nil)
	require.NoError(t, err)
	assert.Equal(t, 250, cfg.maxConnections)

	err = run(context.Background(), []string{"--max-connections", "-1"}, io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-max-connections")
	assert.Equal(t, 2, exitCode(err))
}

// TestMaxConnectionsEndToEnd: with QUERYLENS_MAX_CONNECTIONS=1 the second
// client gets error 1040 (08004) from go-sql-driver and the mariadb CLI
// alike, and /metrics counts the refusals.
func TestMaxConnectionsEndToEnd(t *testing.T) {
	srv := testdb.Require(t)
	t.Setenv("QUERYLENS_MAX_CONNECTIONS", "1")
	ql := startQuerylens(t, srv.Addr)

	held, err := sql.Open("mysql", srv.DSN(ql.listen, testdb.Schema))
	require.NoError(t, err)
	defer held.Close()
	require.NoError(t, held.Ping())

	db, err := sql.Open("mysql", srv.DSN(ql.listen, testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	err = db.Ping()
	var me *mysql.MySQLError
	require.True(t, errors.As(err, &me), "want a MySQL error, got %v", err)
	assert.Equal(t, uint16(1040), me.Number)
	assert.Equal(t, "08004", string(me.SQLState[:]))
	want := 1

	if cli, err := exec.LookPath("mariadb"); err == nil {
		host, port, _ := net.SplitHostPort(ql.listen)
		out, err := exec.Command(cli, "--no-defaults", "-h", host, "-P", port, "-u", testdb.User,
			"-p"+testdb.Password, "-e", "SELECT 1").CombinedOutput()
		require.Error(t, err)
		assert.Equal(t, "ERROR 1040 (08004): Too many connections", string(bytes.TrimSpace(out)))
		want++
	}

	resp, err := http.Get("http://" + ql.http + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), `querylens_connections_rejected_total{reason="max_connections"} `+strconv.Itoa(want))
	assert.Contains(t, string(body), "querylens_connections_open 1")
}
