package clients

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/stats"
)

// TestGoSQLDriverPrepared runs go-sql-driver with interpolateParams=false
// (every statement with arguments is prepared, executed and closed) and
// transactions, directly and through querylens, compares what the client
// saw, and checks querylens's command counts against the server's Com_*
// counters and its per-statement counts against performance_schema.
func TestGoSQLDriverPrepared(t *testing.T) {
	s := requireServer(t)
	const schema = "cl_gosql"
	reset := func() {
		s.resetSchema(t, schema,
			"CREATE TABLE accounts (id INT PRIMARY KEY, owner VARCHAR(20) NOT NULL, balance BIGINT NOT NULL)")
	}
	reset()
	direct := goSQLWorkload(t, s.preparedDSN(t, s.Addr, schema))

	reset()
	ql := startQuerylens(t, s.Addr)
	s.truncateDigests(t)
	com := s.startCom(t)
	proxied := goSQLWorkload(t, s.preparedDSN(t, ql.Addr, schema))
	snap := ql.snapshot(t)
	delta := com.delta(t)

	require.Equal(t, direct, proxied, "go-sql-driver saw different results through querylens")

	want, got := expectedCom(snap), groupCom(delta)
	logCom(t, want, got)
	assert.Equal(t, want, got, "Com_* deltas")
	assert.Equal(t, uint64(delta["Com_stmt_execute"]), snap.Commands["stmt_execute"], "COM_STMT_EXECUTE")
	assert.Equal(t, uint64(delta["Com_stmt_prepare"]), snap.Commands["stmt_prepare"], "COM_STMT_PREPARE")

	rows := joinStatements(statementLevel(snap, schema), s.serverDigests(t, schema))
	logDigestTable(t, rows)
	checkDigests(t, rows, false)

	// The server keeps no per-statement numbers for prepared statements;
	// check querylens's against what the workload did.
	byText := func(sql string) *stats.DigestStats { return digestOf(t, snap, schema, sql) }
	ins := byText("INSERT INTO accounts (id, owner, balance) VALUES (1, 'a', 2)")
	assert.Equal(t, uint64(21), ins.Count, "inserts executed")
	assert.Equal(t, uint64(1), ins.Errors, "duplicate-key insert")
	assert.Equal(t, uint64(20), ins.RowsAffected)
	assert.Equal(t, map[string]uint64{"stmt_prepare": 21, "stmt_execute": 21}, ins.Commands)
	look := byText("SELECT owner, balance FROM accounts WHERE id = 1")
	assert.Equal(t, uint64(30), look.Count, "lookups: one PREPARE, 30 executes")
	assert.Equal(t, uint64(25), look.RowsSent, "ids 21..25 do not exist")
	assert.Equal(t, map[string]uint64{"stmt_prepare": 1, "stmt_execute": 30}, look.Commands)
	bad := byText("SELECT nope FROM accounts WHERE id = 1")
	assert.Equal(t, uint64(0), bad.Count, "a failed PREPARE is no execution")
	assert.Equal(t, uint64(1), bad.PrepareErrors)
	dbl := byText("UPDATE accounts SET balance = balance * 2 WHERE id = 4")
	assert.Equal(t, uint64(5), dbl.Count)
	assert.Equal(t, uint64(5), dbl.RowsAffected)
}

// preparedDSN returns a DSN that makes go-sql-driver use server-side
// prepared statements for every statement with arguments.
func (s *mariadbServer) preparedDSN(t *testing.T, addr, schema string) string {
	t.Helper()
	c, err := mysql.ParseDSN(s.DSN(addr, schema))
	require.NoError(t, err)
	c.InterpolateParams = false
	c.MultiStatements = false
	return c.FormatDSN()
}

// goSQLWorkload runs a fixed workload and returns a transcript of what the
// client saw, errors included.
func goSQLWorkload(t *testing.T, dsn string) string {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: a deterministic transcript
	var out strings.Builder
	note := func(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }
	exec := func(db interface {
		Exec(string, ...any) (sql.Result, error)
	}, q string, args ...any) {
		res, err := db.Exec(q, args...)
		if err != nil {
			note("exec %q: error %v", q, err)
			return
		}
		n, _ := res.RowsAffected()
		note("exec %q: %d rows", q, n)
	}

	for i := 1; i <= 20; i++ {
		exec(db, "INSERT INTO accounts (id, owner, balance) VALUES (?, ?, ?)", i, fmt.Sprintf("owner-%02d", i), 1000+i)
	}
	exec(db, "INSERT INTO accounts (id, owner, balance) VALUES (?, ?, ?)", 1, "dup", 0) // 1062

	stmt, err := db.Prepare("SELECT owner, balance FROM accounts WHERE id = ?")
	require.NoError(t, err)
	for i := range 30 {
		var owner string
		var balance int64
		err := stmt.QueryRow(i%25+1).Scan(&owner, &balance)
		note("lookup %d: %s %d %v", i%25+1, owner, balance, err)
	}
	require.NoError(t, stmt.Close())

	_, err = db.Prepare("SELECT nope FROM accounts WHERE id = ?") // fails at PREPARE
	note("bad prepare: %v", err)

	// A transfer that commits.
	tx, err := db.Begin()
	require.NoError(t, err)
	exec(tx, "UPDATE accounts SET balance = balance - ? WHERE id = ?", 10, 1)
	exec(tx, "UPDATE accounts SET balance = balance + ? WHERE id = ?", 10, 2)
	require.NoError(t, tx.Commit())

	// A delete that rolls back.
	tx, err = db.Begin()
	require.NoError(t, err)
	exec(tx, "DELETE FROM accounts WHERE id = ?", 3)
	var n int
	require.NoError(t, tx.QueryRow("SELECT COUNT(*) FROM accounts WHERE id > ?", 0).Scan(&n))
	note("count inside rolled-back tx: %d", n)
	require.NoError(t, tx.Rollback())

	// A statement prepared inside a transaction and run several times.
	tx, err = db.Begin()
	require.NoError(t, err)
	ts, err := tx.Prepare("UPDATE accounts SET balance = balance * ? WHERE id = ?")
	require.NoError(t, err)
	for i := 4; i < 9; i++ {
		res, err := ts.Exec(2, i)
		require.NoError(t, err)
		n, _ := res.RowsAffected()
		note("double %d: %d rows", i, n)
	}
	require.NoError(t, ts.Close())
	require.NoError(t, tx.Commit())

	// Text protocol: no arguments.
	exec(db, "UPDATE accounts SET owner = UPPER(owner) WHERE id = 20")

	rows, err := db.Query("SELECT id, owner, balance FROM accounts WHERE balance > ? ORDER BY id", 0)
	require.NoError(t, err)
	for rows.Next() {
		var id int
		var owner string
		var balance int64
		require.NoError(t, rows.Scan(&id, &owner, &balance))
		note("row %d %s %d", id, owner, balance)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	return out.String()
}
