package clients

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/fingerprint"
	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/report"
	"github.com/querylens/querylens/stats"
)

const ptHint = "install it with: sudo apt-get install percona-toolkit"

// TestPtQueryDigest checks querylens's ranking against pt-query-digest's
// reading of the server's own slow log (long_query_time=0) for the same
// workload: both must name the same top statement by total time, and,
// the workloads being sequential (one connection), list the same
// statements with the same execution counts. MariaDB logs each execution
// of a prepared statement with its values in place, so pt-query-digest
// classes it with the text queries of the same shape; the prepared
// statements' PREPAREs do not count in those classes.
//
// The two measure different things: the server's Query_time is its own
// execution time, querylens's latency is command sent → last response
// byte, network and proxy included. Cheap statements therefore weigh more
// in querylens's ranking than in the server's, so each workload has one
// statement that costs clearly more in total than the next one on the
// server's clock and on ours (the rankings and shares are logged).
func TestPtQueryDigest(t *testing.T) {
	pt := needTool(t, "pt-query-digest", ptHint)
	s := requireServer(t)

	t.Run("sysbench-text", func(t *testing.T) {
		bin := needTool(t, "sysbench", sysbenchHint)
		const schema = "cl_ptdigest_sysbench"
		s.resetSchema(t, schema)
		common := []string{"oltp_read_write", "--db-driver=mysql", "--mysql-host=127.0.0.1",
			"--mysql-user=" + testdb.User, "--mysql-password=" + testdb.Password, "--mysql-db=" + schema,
			"--tables=1", "--table-size=10000"}
		prep := runClient(t, 2*time.Minute, nil, nil, bin, append(common, "--mysql-port="+strconv.Itoa(s.Port), "prepare")...)
		require.Equal(t, 0, prep.Code, "sysbench prepare: %s", prep)
		s.waitIdle(t)

		ql := startQuerylens(t, s.Addr)
		_, port := hostPort(t, ql.Addr)
		log := s.startSlowLog(t)
		// One thread: a sequential workload, so that the slow log and
		// querylens must agree on every count exactly.
		out := runClient(t, 3*time.Minute, nil, nil, bin, append(common, "--mysql-port="+port,
			"--threads=1", "--events=400", "--time=0", "--db-ps-mode=disable", "run")...)
		require.Equal(t, 0, out.Code, "sysbench run: %s", out)
		snap := ql.snapshot(t)
		log.stop(t)
		compareWithPt(t, pt, log.file, snap, schema)
	})

	t.Run("mixed-prepared-text", func(t *testing.T) {
		const schema = "cl_ptdigest_mixed"
		s.resetSchema(t, schema,
			"CREATE TABLE big (id INT PRIMARY KEY, grp INT NOT NULL, v BIGINT NOT NULL, pad CHAR(60) NOT NULL)",
			"INSERT INTO big SELECT seq, seq % 10, seq * 7, REPEAT('x', 60) FROM seq_1_to_20000",
			"CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(40) NOT NULL)")
		s.waitIdle(t)

		ql := startQuerylens(t, s.Addr)
		log := s.startSlowLog(t)
		mixedWorkload(t, s.preparedDSN(t, ql.Addr, schema))
		snap := ql.snapshot(t)
		log.stop(t)
		compareWithPt(t, pt, log.file, snap, schema)
	})
}

// mixedWorkload runs, on one connection, prepared statements (executed
// many times each) and text queries, interleaved. The prepared range
// aggregate over 4,000 rows is the most expensive in total by design:
// each execution costs the server tens of times what a point lookup does,
// and it runs a quarter as often as the lookups.
func mixedWorkload(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	defer db.Close()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()

	agg, err := conn.PrepareContext(ctx, "SELECT grp, SUM(v), COUNT(*) FROM big WHERE id BETWEEN ? AND ? GROUP BY grp")
	require.NoError(t, err)
	defer agg.Close()
	point, err := conn.PrepareContext(ctx, "SELECT pad FROM big WHERE id = ?")
	require.NoError(t, err)
	defer point.Close()
	update, err := conn.PrepareContext(ctx, "UPDATE big SET v = v + ? WHERE id = ?")
	require.NoError(t, err)
	defer update.Close()

	drain := func(rows *sql.Rows, err error) {
		t.Helper()
		require.NoError(t, err)
		for rows.Next() {
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
	}
	for i := range 800 {
		id := 1 + i*13%20000
		drain(point.QueryContext(ctx, id))
		// A text query: go-sql-driver sends statements without
		// arguments as COM_QUERY.
		drain(conn.QueryContext(ctx, fmt.Sprintf("SELECT v, grp FROM big WHERE id = %d", 20000-id+1)))
		switch i % 4 {
		case 0:
			lo := 1 + i*7%16000
			drain(agg.QueryContext(ctx, lo, lo+3999))
		case 1:
			_, err := update.ExecContext(ctx, i, id)
			require.NoError(t, err)
		case 2:
			_, err := conn.ExecContext(ctx, fmt.Sprintf("INSERT INTO notes (msg) VALUES ('note %d')", i))
			require.NoError(t, err)
		}
	}
}

// slowLog is the server's slow log switched on for one test.
type slowLog struct {
	s    *mariadbServer
	file string
}

// slowLogVars are the server variables startSlowLog changes and restores.
var slowLogVars = []string{"slow_query_log", "slow_query_log_file", "long_query_time",
	"log_slow_verbosity", "log_slow_filter", "log_slow_rate_limit", "log_slow_min_examined_row_limit"}

// startSlowLog logs every statement of every new session to a fresh slow
// log file until stop, and restores the server's settings when the test
// ends. long_query_time is read by each session when it connects, so only
// connections opened after the call are logged with it.
func (s *mariadbServer) startSlowLog(t *testing.T) *slowLog {
	t.Helper()
	saved := map[string]string{}
	for _, v := range slowLogVars {
		var val sql.NullString
		require.NoError(t, s.root.QueryRow("SELECT @@GLOBAL."+v).Scan(&val))
		saved[v] = val.String
	}
	file := filepath.Join(t.TempDir(), "slow.log")
	t.Cleanup(func() {
		// The log goes off first, so that the other settings change while
		// nothing is written; slow_query_log goes back last.
		restore := []string{"SET GLOBAL slow_query_log = 0"}
		for _, v := range slowLogVars[1:] {
			restore = append(restore, "SET GLOBAL "+v+" = "+sqlValue(saved[v]))
		}
		restore = append(restore, "SET GLOBAL slow_query_log = "+sqlValue(saved["slow_query_log"]))
		for _, q := range restore {
			if _, err := s.root.Exec(q); err != nil {
				t.Errorf("restore the slow log settings: %s: %v", q, err)
			}
		}
		for _, v := range slowLogVars {
			var val sql.NullString
			if err := s.root.QueryRow("SELECT @@GLOBAL." + v).Scan(&val); err != nil || val.String != saved[v] {
				t.Errorf("%s is %q after the test, was %q (%v)", v, val.String, saved[v], err)
			}
		}
	})
	s.exec(t,
		"SET GLOBAL slow_query_log_file = "+sqlValue(file),
		"SET GLOBAL long_query_time = 0",
		// The default filter list lets every statement through (the
		// exact counts below depend on it): set it in case the server
		// runs with another.
		"SET GLOBAL log_slow_filter = DEFAULT",
		"SET GLOBAL log_slow_rate_limit = 1",
		"SET GLOBAL log_slow_min_examined_row_limit = 0",
		"SET GLOBAL log_slow_verbosity = 'query_plan'",
		"SET GLOBAL slow_query_log = 1")
	return &slowLog{s: s, file: file}
}

// stop waits until the clients' sessions have ended on the server (each
// statement is logged when it ends), then switches the log off.
func (l *slowLog) stop(t *testing.T) {
	t.Helper()
	l.s.waitIdle(t)
	l.s.exec(t, "SET GLOBAL slow_query_log = 0")
}

// sqlValue renders a saved variable value as a SQL literal: numbers bare,
// the rest quoted.
func sqlValue(v string) string {
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// ranked is one statement shape in a ranking by total time, from either
// side.
type ranked struct {
	Key   string // querylens digest of the statement
	Text  string // what the side calls it
	Count uint64
	Total float64 // seconds
	Share float64 // of the side's total time in the schema
	Texts int     // pt-query-digest classes folded into the entry
}

// compareWithPt runs pt-query-digest on the slow log and querylens report
// on snap, both restricted to schema, and compares the statements with
// the largest total time.
func compareWithPt(t *testing.T, pt, slowLogFile string, snap *stats.Snapshot, schema string) {
	t.Helper()
	theirs := ptRanking(t, pt, slowLogFile, schema)
	ours := reportRanking(t, snap, schema)
	logRanking(t, "pt-query-digest (server slow log, Query_time)", theirs)
	logRanking(t, "querylens report (latency through the proxy)", ours)
	require.NotEmpty(t, theirs, "pt-query-digest found no statement of %s in the slow log", schema)
	require.NotEmpty(t, ours, "querylens report has no statement of %s", schema)

	top, ptTop := ours[0], theirs[0]
	assert.Equal(t, top.Key, ptTop.Key, "top statement by total time: querylens %q, pt-query-digest %q", top.Text, ptTop.Text)
	assert.Equal(t, 1, ptTop.Texts, "pt-query-digest split the top statement into several classes")

	// The workloads are sequential: every statement the server logged is
	// one querylens counted, and the other way round, exactly.
	ptCount := map[string]ranked{}
	for _, r := range theirs {
		ptCount[r.Key] = r
	}
	for _, r := range ours {
		p, ok := ptCount[r.Key]
		if !ok {
			t.Errorf("querylens statement %q (count %d) is not in the slow log", r.Text, r.Count)
			continue
		}
		assert.Equal(t, r.Count, p.Count, "executions of %q: querylens vs the slow log (pt class %q)", r.Text, p.Text)
		delete(ptCount, r.Key)
	}
	for _, p := range ptCount {
		t.Errorf("slow-log class %q (count %d) is unknown to querylens", p.Text, p.Count)
	}
}

// ptClass is the part of a pt-query-digest --output json class the test
// reads.
type ptClass struct {
	Fingerprint string `json:"fingerprint"`
	QueryCount  uint64 `json:"query_count"`
	Example     struct {
		Query string `json:"query"`
	} `json:"example"`
	Metrics struct {
		QueryTime struct {
			Sum ptNumber `json:"sum"`
		} `json:"Query_time"`
		DB struct {
			Value string `json:"value"`
		} `json:"db"`
	} `json:"metrics"`
}

// ptNumber is a number pt-query-digest prints either bare or quoted.
type ptNumber float64

func (n *ptNumber) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(strings.Trim(string(b), `"`), 64)
	if err != nil {
		return fmt.Errorf("pt-query-digest number %s: %w", b, err)
	}
	*n = ptNumber(f)
	return nil
}

// ptRanking runs pt-query-digest over the whole slow log, keeps the
// classes of schema, and keys them by the querylens digest of their
// example query (pt's fingerprints differ from ours; an example query is
// a real statement, which our fingerprint normalizes the way querylens
// did when it saw the statement). Classes that land on the same digest
// are summed.
func ptRanking(t *testing.T, pt, slowLogFile, schema string) []ranked {
	t.Helper()
	info, err := os.Stat(slowLogFile)
	require.NoError(t, err, "the server wrote no slow log")
	t.Logf("slow log: %d bytes", info.Size())
	out := runClient(t, 3*time.Minute, nil, nil, pt, "--output", "json", "--limit", "100%", "--no-version-check", slowLogFile)
	require.Equal(t, 0, out.Code, "pt-query-digest: %s", out)
	require.Less(t, out.Len, int64(headBytes), "pt-query-digest printed more than the test keeps")
	var doc struct {
		Classes []ptClass `json:"classes"`
	}
	require.NoError(t, json.Unmarshal([]byte(out.Head), &doc), "pt-query-digest output: %s", out)

	fp := fingerprint.New(fingerprint.DefaultConfig())
	byKey := map[string]*ranked{}
	var total float64
	for _, c := range doc.Classes {
		if c.Metrics.DB.Value != schema {
			continue
		}
		key := "pt-only: " + c.Fingerprint
		if c.Example.Query != "" {
			key = fp.Fingerprint(c.Example.Query).Digest.String()
		}
		r := byKey[key]
		if r == nil {
			r = &ranked{Key: key, Text: c.Fingerprint}
			byKey[key] = r
		}
		r.Count += c.QueryCount
		r.Total += float64(c.Metrics.QueryTime.Sum)
		r.Texts++
		total += float64(c.Metrics.QueryTime.Sum)
	}
	return rank(byKey, total)
}

// reportRanking writes snap to a file and reads it back the way
// `querylens report --format json --schema SCHEMA FILE` does.
func reportRanking(t *testing.T, snap *stats.Snapshot, schema string) []ranked {
	t.Helper()
	b, err := json.Marshal(snap)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "snapshot.json")
	require.NoError(t, os.WriteFile(file, b, 0o600))
	var out, errb bytes.Buffer
	err = report.Run(context.Background(), []string{"--format", "json", "--top", "100000", "--schema", schema, file}, &out, &errb)
	require.NoError(t, err, "querylens report: %s", errb.String())
	var list stats.DigestList
	require.NoError(t, json.Unmarshal(out.Bytes(), &list))

	byKey := map[string]*ranked{}
	var total float64
	for _, d := range list.Digests {
		byKey[d.Digest] = &ranked{Key: d.Digest, Text: d.Fingerprint, Count: d.Count, Total: d.Latency.Sum, Texts: 1}
		total += d.Latency.Sum
	}
	got := rank(byKey, total)
	// The report's own order must be the one computed here.
	for i, d := range list.Digests {
		if i < len(got) && got[i].Key != d.Digest && got[i].Total != d.Latency.Sum {
			t.Errorf("querylens report ranks %q at %d, by total time it is %q", d.Fingerprint, i+1, got[i].Text)
		}
	}
	return got
}

// rank orders entries by total time, descending, and fills in shares.
func rank(byKey map[string]*ranked, total float64) []ranked {
	out := make([]ranked, 0, len(byKey))
	for _, r := range byKey {
		if total > 0 {
			r.Share = r.Total / total
		}
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// logRanking logs the first five entries of a ranking.
func logRanking(t *testing.T, title string, rs []ranked) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%-4s %-8s %-8s %-11s %-16s  %s\n", "rank", "share", "count", "total", "digest", "statement")
	for i, r := range rs[:min(5, len(rs))] {
		text := oneLineCut(r.Text, 100)
		if r.Texts > 1 {
			text += fmt.Sprintf(" (+%d more pt classes)", r.Texts-1)
		}
		fmt.Fprintf(&b, "%-4d %6.1f%%  %-8d %-11s %-16s  %s\n", i+1, 100*r.Share, r.Count, time.Duration(r.Total*float64(time.Second)).Round(time.Microsecond), r.Key, text)
	}
	t.Logf("%s, top %d of %d:\n%s", title, min(5, len(rs)), len(rs), b.String())
}

func oneLineCut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
