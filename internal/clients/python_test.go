package clients

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
)

const mysqldbHint = "install it with: sudo apt-get install python3-mysqldb"

// pythonWithMySQLdb returns a Python interpreter that can import MySQLdb.
// Debian's python3-mysqldb installs for /usr/bin/python3, which need not be
// the python3 first on PATH.
func pythonWithMySQLdb(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import MySQLdb").Run() == nil {
			return p
		}
	}
	missing(t, "no python3 with MySQLdb; "+mysqldbHint)
	return ""
}

// TestPythonMySQLdb runs a MySQLdb workload (executemany, plain, dict and
// server-side cursors, a multi-statement query, commit and rollback, errors)
// directly and through querylens, requires identical transcripts, and
// checks querylens's counts against the server's.
func TestPythonMySQLdb(t *testing.T) {
	py := pythonWithMySQLdb(t)
	s := requireServer(t)
	const schema = "cl_python"
	reset := func() {
		s.resetSchema(t, schema, `CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL,
			score DECIMAL(8,2) NOT NULL, born DATE NOT NULL, data VARBINARY(16) NOT NULL)`)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "python", "workload.py"))
	require.NoError(t, err)
	run := func(addr string) output {
		host, port := hostPort(t, addr)
		o := runClient(t, 2*time.Minute, nil, []string{"QL_HOST=" + host, "QL_PORT=" + port,
			"QL_USER=" + testdb.User, "QL_PASSWORD=" + testdb.Password, "QL_DB=" + schema}, py, script)
		require.Equal(t, 0, o.Code, "python workload: %s", o)
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
	require.True(t, direct.same(proxied), "MySQLdb saw different results through querylens:\n direct:  %s\n proxied: %s\n%s",
		direct, proxied, proxied.Head)

	// The batch sent without CLIENT_MULTI_STATEMENTS failed to parse; the
	// server counts it nowhere (see errParse).
	assert.Equal(t, uint64(1), parseErrors(snap), "syntax errors seen by querylens")
	want, got := expectedCom(snap), groupCom(delta)
	logCom(t, want, got)
	assert.Equal(t, want, got, "Com_* deltas")

	rows := joinStatements(statementLevel(snap, schema), s.serverDigests(t, schema))
	logDigestTable(t, rows)
	checkDigests(t, rows, false)
}
