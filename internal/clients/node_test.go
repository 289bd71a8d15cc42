package clients

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
)

const nodeHint = "install Node.js with: sudo apt-get install nodejs npm; then: npm ci --prefix internal/clients/testdata/node"

// TestNodeMySQL2 runs a Node mysql2 workload (execute() with parameters of
// every JavaScript type, query(), errors, transactions) directly and through
// querylens, requires identical JSON transcripts, and checks querylens's
// counts against the server's.
func TestNodeMySQL2(t *testing.T) {
	node := needTool(t, "node", nodeHint)
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "mysql2", "package.json")); err != nil {
		missing(t, "mysql2 is not installed; run: npm ci --prefix internal/clients/testdata/node")
	}
	s := requireServer(t)
	const schema = "cl_node"
	reset := func() {
		s.resetSchema(t, schema, `CREATE TABLE typed (id INT PRIMARY KEY, i INT, big BIGINT, f FLOAT, d DOUBLE,
			dec_ DECIMAL(20,6), s VARCHAR(100), b VARBINARY(64), dt DATETIME(3), n INT NULL, j JSON, flag TINYINT(1))`)
	}
	run := func(addr string) output {
		host, port := hostPort(t, addr)
		o := runClient(t, 2*time.Minute, nil, []string{"QL_HOST=" + host, "QL_PORT=" + port,
			"QL_USER=" + testdb.User, "QL_PASSWORD=" + testdb.Password, "QL_DB=" + schema},
			node, filepath.Join(dir, "workload.js"))
		require.Equal(t, 0, o.Code, "node workload: %s", o)
		return o
	}

	reset()
	direct := run(s.Addr)
	reset()
	ql := startQuerylens(t, s.Addr)
	s.truncateDigests(t)
	com := s.startCom(t)
	proxied := run(ql.Addr)
	snap := ql.snapshot(t)
	delta := com.delta(t)

	t.Logf("transcript (%d bytes):\n%s", direct.Len, direct.Head)
	require.True(t, direct.same(proxied), "mysql2 saw different results through querylens:\n direct:  %s\n proxied: %s\n%s",
		direct, proxied, proxied.Head)

	want, got := expectedCom(snap), groupCom(delta)
	logCom(t, want, got)
	assert.Equal(t, want, got, "Com_* deltas")
	assert.Equal(t, uint64(delta["Com_stmt_execute"]), snap.Commands["stmt_execute"])

	rows := joinStatements(statementLevel(snap, schema), s.serverDigests(t, schema))
	logDigestTable(t, rows)
	checkDigests(t, rows, false)
}
