package clients

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
)

const sysbenchHint = "install it with: sudo apt-get install sysbench"

// TestSysbench runs sysbench's oltp_read_write through querylens with four
// threads, once over the text protocol (--db-ps-mode=disable) and once with
// server-side prepared statements (--db-ps-mode=auto), and checks
// querylens's counts against sysbench's own report, the server's Com_*
// counters (exactly) and, for the text protocol, performance_schema's
// per-digest counts (which, under concurrency, the server undercounts: see
// checkDigests).
func TestSysbench(t *testing.T) {
	bin := needTool(t, "sysbench", sysbenchHint)
	s := requireServer(t)
	for _, mode := range []string{"disable", "auto"} {
		t.Run("ps-mode="+mode, func(t *testing.T) {
			schema := "cl_sysbench_" + mode
			s.resetSchema(t, schema)
			common := []string{"oltp_read_write", "--db-driver=mysql", "--mysql-host=127.0.0.1",
				"--mysql-user=" + testdb.User, "--mysql-password=" + testdb.Password, "--mysql-db=" + schema,
				"--tables=2", "--table-size=1000"}
			// Tables are created and filled directly, not through querylens.
			prep := runClient(t, 2*time.Minute, nil, nil, bin, append(common, "--mysql-port="+strconv.Itoa(s.Port), "prepare")...)
			require.Equal(t, 0, prep.Code, "sysbench prepare: %s", prep)
			// Its sessions may still be ending on the server (a CREATE INDEX
			// was once recorded after the truncate below): wait them out.
			s.waitIdle(t)

			ql := startQuerylens(t, s.Addr)
			_, port := hostPort(t, ql.Addr)
			s.truncateDigests(t)
			com := s.startCom(t)
			out := runClient(t, 3*time.Minute, nil, nil, bin, append(common, "--mysql-port="+port,
				"--threads=4", "--events=2000", "--time=0", "--db-ps-mode="+mode, "run")...)
			snap := ql.snapshot(t)
			delta := com.delta(t)
			require.Equal(t, 0, out.Code, "sysbench run: %s", out)
			rep := parseSysbench(t, out.Head)
			t.Logf("sysbench: %+v", rep)
			require.Equal(t, uint64(2000), rep.Transactions)
			require.Zero(t, rep.Reconnects)

			var executions uint64
			for _, d := range snap.Digests {
				executions += d.Count
			}
			// sysbench counts a query in "total" only when it succeeds;
			// deadlocks it ignores (and retries) are counted apart.
			assert.Equal(t, rep.Total+rep.IgnoredErrors, executions,
				"querylens executions vs sysbench's total %d + ignored errors %d", rep.Total, rep.IgnoredErrors)

			want, got := expectedCom(snap), groupCom(delta)
			logCom(t, want, got)
			assert.Equal(t, want, got, "Com_* deltas")
			var serverTotal int64
			for _, c := range []string{"Com_select", "Com_insert", "Com_update", "Com_delete", "Com_begin", "Com_commit", "Com_rollback"} {
				serverTotal += delta[c]
			}
			assert.Equal(t, int64(executions), serverTotal, "querylens executions vs the server's statement counters")

			rows := joinStatements(statementLevel(snap, schema), s.serverDigests(t, schema))
			logDigestTable(t, rows)
			checkDigests(t, rows, true)

			if mode == "auto" {
				// 4 threads prepare BEGIN, COMMIT and 9 statements per table
				// once, then only execute.
				assert.Equal(t, uint64(delta["Com_stmt_prepare"]), snap.Commands["stmt_prepare"])
				assert.Equal(t, uint64(4*(2+9*2)), snap.Commands["stmt_prepare"])
				assert.Equal(t, uint64(delta["Com_stmt_execute"]), snap.Commands["stmt_execute"])
				var perStatement uint64
				for _, d := range snap.Digests {
					perStatement += d.Commands["stmt_execute"]
					assert.Equal(t, d.Commands["stmt_execute"], d.Count, "%q: every execution is a COM_STMT_EXECUTE", d.Fingerprint)
				}
				assert.Equal(t, snap.Commands["stmt_execute"], perStatement, "executes attributed to statements")
				assert.Equal(t, rep.Total+rep.IgnoredErrors, perStatement)
				assert.Zero(t, snap.Commands["query"], "no text queries in ps-mode=auto")
			} else {
				assert.Equal(t, executions, snap.Commands["query"])
				assert.Zero(t, snap.Commands["stmt_execute"])
			}
		})
	}
}

type sysbenchReport struct {
	Read, Write, Other, Total uint64
	Transactions              uint64
	IgnoredErrors, Reconnects uint64
}

var sysbenchLine = regexp.MustCompile(`(?m)^\s*(read|write|other|total|transactions|ignored errors|reconnects):\s+(\d+)`)

func parseSysbench(t *testing.T, out string) sysbenchReport {
	t.Helper()
	var r sysbenchReport
	fields := map[string]*uint64{"read": &r.Read, "write": &r.Write, "other": &r.Other, "total": &r.Total,
		"transactions": &r.Transactions, "ignored errors": &r.IgnoredErrors, "reconnects": &r.Reconnects}
	seen := 0
	for _, m := range sysbenchLine.FindAllStringSubmatch(out, -1) {
		n, err := strconv.ParseUint(m[2], 10, 64)
		require.NoError(t, err)
		*fields[m[1]] = n
		seen++
	}
	require.Equal(t, len(fields), seen, "sysbench output:\n%s", out)
	require.Equal(t, r.Read+r.Write+r.Other, r.Total)
	return r
}
