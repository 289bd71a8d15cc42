package clients

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/stats"
)

// Workloads that mirror real application code, run through the proxy
// against the real server; the findings must name what the code does
// wrong, and nothing when it does it right.

// settledFindings waits until every proxied connection has closed and
// every unit of work has ended (the idle gap has passed), then returns the
// findings.
func (q *querylens) settledFindings(t *testing.T) *stats.Snapshot {
	t.Helper()
	q.snapshot(t) // waits for the connections to close
	time.Sleep(stats.DefaultUnitGap + 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, q.Engine.Flush(ctx))
	return q.Engine.Snapshot()
}

func findingsOf(s *stats.Snapshot, kind string) []*stats.Finding {
	var out []*stats.Finding
	for _, f := range s.Findings {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

func logFindings(t *testing.T, s *stats.Snapshot) {
	t.Helper()
	for _, f := range s.Findings {
		t.Logf("%s: %s\n  %s\n  source: %s\n  suggestion: %s (saves %.4fs)", f.Kind, f.Title, f.Fingerprint,
			f.SourceFingerprint, f.Suggestion, f.SavingSeconds)
	}
}

// openDB opens a go-sql-driver pool through addr with at most conns
// connections, text protocol.
func openDB(t *testing.T, s *mariadbServer, addr, schema string, conns int) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", s.DSN(addr, schema))
	require.NoError(t, err)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	t.Cleanup(func() { db.Close() })
	return db
}

func feedSchema(t *testing.T, s *mariadbServer, schema string) {
	t.Helper()
	ddl := []string{
		"CREATE TABLE items (id INT PRIMARY KEY, title VARCHAR(100))",
		"CREATE TABLE feeds (id INT AUTO_INCREMENT PRIMARY KEY, item_id INT, entry VARCHAR(100), KEY (item_id))",
	}
	var items, feeds []string
	for i := 1; i <= 60; i++ {
		items = append(items, fmt.Sprintf("(%d, 'item %d')", i, i))
		for j := range 3 {
			feeds = append(feeds, fmt.Sprintf("(%d, 'entry %d.%d')", i, i, j))
		}
	}
	ddl = append(ddl, "INSERT INTO items VALUES "+strings.Join(items, ","),
		"INSERT INTO feeds (item_id, entry) VALUES "+strings.Join(feeds, ","))
	s.resetSchema(t, schema, ddl...)
}

// TestFindingNPlusOne: a feed reader lists 50 items, then reads each
// item's feed with one query per item → one N+1 finding, 50 executions,
// the list as its source; the JOIN and IN versions of the page → none.
func TestFindingNPlusOne(t *testing.T) {
	s := requireServer(t)
	const schema = "cl_find_feeds"
	feedSchema(t, s, schema)

	t.Run("loop", func(t *testing.T) {
		ql := startQuerylens(t, s.Addr)
		db := openDB(t, s, ql.Addr, schema, 1)
		rows, err := db.Query("SELECT id, title FROM items ORDER BY id LIMIT 50")
		require.NoError(t, err)
		var ids []int
		for rows.Next() {
			var id int
			var title string
			require.NoError(t, rows.Scan(&id, &title))
			ids = append(ids, id)
		}
		require.NoError(t, rows.Err())
		rows.Close()
		for _, id := range ids {
			var n int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM feeds WHERE item_id = "+strconv.Itoa(id)).Scan(&n))
		}
		db.Close()
		snap := ql.settledFindings(t)
		logFindings(t, snap)
		np := findingsOf(snap, stats.KindNPlusOne)
		require.Len(t, np, 1, "one N+1 finding")
		f := np[0]
		assert.Equal(t, "select count(*) from feeds where item_id = ?", f.Fingerprint)
		assert.Equal(t, "select id, title from items order by id limit ?", f.SourceFingerprint)
		assert.EqualValues(t, 50, f.Executions)
		assert.EqualValues(t, 1, f.Units)
		assert.Equal(t, "select count(*) from feeds where item_id in (...)", f.Suggestion)
		assert.Greater(t, f.SavingSeconds, 0.0)
		assert.Less(t, f.SavingSeconds, f.Seconds)
		assert.Empty(t, findingsOf(snap, stats.KindRepeatedRead))
		assert.EqualValues(t, 1, snap.FindingsCreated[stats.KindNPlusOne])
	})

	t.Run("join and in", func(t *testing.T) {
		ql := startQuerylens(t, s.Addr)
		db := openDB(t, s, ql.Addr, schema, 1)
		for _, q := range []string{
			"SELECT i.id, i.title, COUNT(f.id) FROM items i LEFT JOIN feeds f ON f.item_id = i.id GROUP BY i.id, i.title ORDER BY i.id LIMIT 50",
			"SELECT id, title FROM items ORDER BY id LIMIT 50",
			"SELECT item_id, COUNT(*) FROM feeds WHERE item_id IN (" + seq(1, 50) + ") GROUP BY item_id",
		} {
			rows, err := db.Query(q)
			require.NoError(t, err)
			for rows.Next() {
			}
			require.NoError(t, rows.Err())
			rows.Close()
		}
		db.Close()
		snap := ql.settledFindings(t)
		logFindings(t, snap)
		assert.Empty(t, snap.Findings)
	})
}

func seq(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		if i > from {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
	}
	return b.String()
}

// TestFindingRepeatedReadsAndChurn: a crash-report handler that, per
// report, runs the same lookup six times, opening a new connection for
// every query → a repeated-read finding and a connection-churn finding.
func TestFindingRepeatedReadsAndChurn(t *testing.T) {
	s := requireServer(t)
	const schema = "cl_find_crash"
	s.resetSchema(t, schema,
		"CREATE TABLE files (id INT AUTO_INCREMENT PRIMARY KEY, report_uuid CHAR(36), filename VARCHAR(100), KEY (report_uuid))",
		"INSERT INTO files (report_uuid, filename) VALUES ('9f1c2b9e-0000-4000-8000-000000000001', 'core.1'), ('9f1c2b9e-0000-4000-8000-000000000001', 'log.1'), ('9f1c2b9e-0000-4000-8000-000000000002', 'core.2')")
	ql := startQuerylens(t, s.Addr)
	reports := []string{"9f1c2b9e-0000-4000-8000-000000000001", "9f1c2b9e-0000-4000-8000-000000000002"}
	for i, uuid := range reports {
		if i > 0 {
			time.Sleep(2 * stats.DefaultUnitGap) // another request, later
		}
		for range 6 {
			db, err := sql.Open("mysql", s.DSN(ql.Addr, schema))
			require.NoError(t, err)
			rows, err := db.Query("SELECT filename FROM files WHERE report_uuid = ?", uuid)
			require.NoError(t, err)
			for rows.Next() {
			}
			require.NoError(t, rows.Err())
			rows.Close()
			require.NoError(t, db.Close())
		}
	}
	snap := ql.settledFindings(t)
	logFindings(t, snap)
	rr := findingsOf(snap, stats.KindRepeatedRead)
	require.Len(t, rr, 1)
	assert.Equal(t, "select filename from files where report_uuid = ?", rr[0].Fingerprint)
	assert.EqualValues(t, 12, rr[0].Executions)
	assert.EqualValues(t, 2, rr[0].Units, "one unit per report")
	churn := findingsOf(snap, stats.KindConnectionChurn)
	require.Len(t, churn, 1)
	assert.EqualValues(t, 12, churn[0].Executions, "connections")
	assert.Contains(t, churn[0].Title, testdb.User+"@127.0.0.1")
	assert.Greater(t, churn[0].Seconds, 0.0, "time spent in handshakes")
}

// TestFindingRowRoundTrips: an ORM's "mark as read" as select-by-id,
// exists-by-id and a full-row update → repeated work on one row; the
// single UPDATE ... WHERE id = ? → nothing.
func TestFindingRowRoundTrips(t *testing.T) {
	s := requireServer(t)
	const schema = "cl_find_rows"
	s.resetSchema(t, schema,
		"CREATE TABLE messages (id INT PRIMARY KEY, subject VARCHAR(100), body TEXT, is_read TINYINT, updated_at DATETIME)",
		"INSERT INTO messages VALUES (1, 'a', 'x', 0, NOW()), (2, 'b', 'y', 0, NOW()), (3, 'c', 'z', 0, NOW())")

	t.Run("orm", func(t *testing.T) {
		ql := startQuerylens(t, s.Addr)
		db := openDB(t, s, ql.Addr, schema, 1)
		var subject, body string
		var read int
		require.NoError(t, db.QueryRow("SELECT id, subject, body, is_read FROM messages WHERE messages.id = 2 LIMIT 1").Scan(new(int), &subject, &body, &read))
		var one int
		require.NoError(t, db.QueryRow("SELECT 1 AS one FROM messages WHERE messages.id = 2 LIMIT 1").Scan(&one))
		_, err := db.Exec("UPDATE messages SET subject = ?, body = ?, is_read = ?, updated_at = NOW() WHERE messages.id = 2", subject, body, 1)
		require.NoError(t, err)
		db.Close()
		snap := ql.settledFindings(t)
		logFindings(t, snap)
		f := findingsOf(snap, stats.KindRowRoundTrips)
		require.Len(t, f, 1)
		assert.EqualValues(t, 3, f[0].Executions)
		assert.Len(t, f[0].Related, 3)
		assert.Contains(t, f[0].ID, "messages.id")
	})

	t.Run("one update", func(t *testing.T) {
		ql := startQuerylens(t, s.Addr)
		db := openDB(t, s, ql.Addr, schema, 1)
		_, err := db.Exec("UPDATE messages SET is_read = 1 WHERE id = ?", 3)
		require.NoError(t, err)
		db.Close()
		snap := ql.settledFindings(t)
		logFindings(t, snap)
		assert.Empty(t, snap.Findings)
	})
}

// TestFindingsPerTracedRequest: requests tagged with sqlcommenter
// traceparents, each spread over several connections, each reading its
// user three times → the findings count one unit per request and carry the
// route tag.
func TestFindingsPerTracedRequest(t *testing.T) {
	s := requireServer(t)
	const schema = "cl_find_trace"
	s.resetSchema(t, schema,
		"CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(50))",
		"INSERT INTO users VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')")
	ql := startQuerylens(t, s.Addr)
	pools := []*sql.DB{openDB(t, s, ql.Addr, schema, 1), openDB(t, s, ql.Addr, schema, 1), openDB(t, s, ql.Addr, schema, 1)}
	traces := []string{"4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331b7ad6b7169203331"}
	for r, trace := range traces {
		for i, db := range pools { // each statement of the request on another connection
			comment := fmt.Sprintf("/*route='%%2Fusers%%2F%%3Aid',traceparent='00-%s-%016x-01'*/", trace, i+1)
			var name string
			require.NoError(t, db.QueryRow("SELECT name FROM users WHERE id = "+strconv.Itoa(r+1)+" "+comment).Scan(&name))
		}
	}
	for _, db := range pools {
		db.Close()
	}
	// A trace's unit ends when the trace has been quiet for TraceGap.
	ql.snapshot(t)
	time.Sleep(stats.DefaultTraceGap + 100*time.Millisecond)
	snap := ql.settledFindings(t)
	logFindings(t, snap)
	rr := findingsOf(snap, stats.KindRepeatedRead)
	require.Len(t, rr, 1)
	assert.EqualValues(t, 3, rr[0].Units, "one unit per request")
	assert.EqualValues(t, 9, rr[0].Executions)
	assert.Equal(t, []string{"route=/users/:id"}, rr[0].Tags)
	for _, ex := range rr[0].Examples {
		assert.Contains(t, ex.Unit, "trace ")
		assert.Contains(t, ex.Unit, "route=/users/:id")
	}
}

// TestSysbenchHasNoFindings: a minute of sysbench oltp_read_write (random
// point reads by the thousand) is not an N+1 and not a repeated read.
func TestSysbenchHasNoFindings(t *testing.T) {
	bin := needTool(t, "sysbench", sysbenchHint)
	if testing.Short() {
		t.Skip("a minute of load; skipped with -short")
	}
	s := requireServer(t)
	const schema = "cl_find_sysbench"
	s.resetSchema(t, schema)
	common := []string{"oltp_read_write", "--db-driver=mysql", "--mysql-host=127.0.0.1",
		"--mysql-user=" + testdb.User, "--mysql-password=" + testdb.Password, "--mysql-db=" + schema,
		"--tables=2", "--table-size=10000"}
	prep := runClient(t, 2*time.Minute, nil, nil, bin, append(common, "--mysql-port="+strconv.Itoa(s.Port), "prepare")...)
	require.Equal(t, 0, prep.Code, "sysbench prepare: %s", prep)
	s.waitIdle(t)
	ql := startQuerylens(t, s.Addr)
	_, port := hostPort(t, ql.Addr)
	out := runClient(t, 3*time.Minute, nil, nil, bin, append(common, "--mysql-port="+port,
		"--threads=4", "--time=60", "run")...)
	require.Equal(t, 0, out.Code, "sysbench run: %s", out)
	snap := ql.settledFindings(t)
	logFindings(t, snap)
	t.Logf("transactions: %d, statements in them: %d", snap.Transactions.Count, snap.Transactions.Statements)
	assert.Greater(t, snap.Transactions.Count, uint64(100))
	// What is shown (the API, the report and the dashboard show the
	// visible findings).
	visible := &stats.Snapshot{Findings: stats.VisibleFindings(snap.Findings, stats.DefaultMinShare)}
	assert.Empty(t, findingsOf(visible, stats.KindNPlusOne))
	assert.Empty(t, findingsOf(visible, stats.KindRepeatedRead))
	assert.Empty(t, findingsOf(visible, stats.KindRowRoundTrips))
}

// TestFindingPreparedAndTransactions: go-sql-driver without
// interpolateParams prepares, executes and closes every query (a
// prepare-per-execute finding); a transaction that waits for the client
// between statements shows up as idle in transaction.
func TestFindingPreparedAndTransactions(t *testing.T) {
	s := requireServer(t)
	const schema = "cl_find_prep"
	s.resetSchema(t, schema, "CREATE TABLE acct (id INT PRIMARY KEY, balance INT)",
		"INSERT INTO acct VALUES (1, 100), (2, 100)")
	ql := startQuerylens(t, s.Addr)
	db, err := sql.Open("mysql", s.preparedDSN(t, ql.Addr, schema))
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	defer db.Close()
	for i := range 8 {
		var b int
		require.NoError(t, db.QueryRow("SELECT balance FROM acct WHERE id = ?", 1+i%2).Scan(&b))
	}
	tx, err := db.Begin()
	require.NoError(t, err)
	var b int
	require.NoError(t, tx.QueryRow("SELECT balance FROM acct WHERE id = ? FOR UPDATE", 1).Scan(&b))
	time.Sleep(600 * time.Millisecond) // the application thinks while holding the row lock
	_, err = tx.Exec("UPDATE acct SET balance = ? WHERE id = ?", b-10, 1)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	db.Close()

	snap := ql.settledFindings(t)
	logFindings(t, snap)
	ppe := findingsOf(snap, stats.KindPreparePerExecute)
	require.NotEmpty(t, ppe)
	var fps []string
	for _, f := range ppe {
		fps = append(fps, f.Fingerprint)
	}
	assert.Contains(t, fps, "select balance from acct where id = ?")
	assert.GreaterOrEqual(t, snap.Transactions.Count, uint64(1))
	idle := findingsOf(snap, stats.KindIdleInTransaction)
	require.Len(t, idle, 1)
	assert.Equal(t, "select balance from acct where id = ? for update", idle[0].Fingerprint)
	assert.GreaterOrEqual(t, idle[0].Seconds, 0.5)
}
