package clients

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/protocol"
)

// TestChangeUser: mysql2's changeUser() (COM_CHANGE_USER with its auth
// exchange, which MariaDB always answers with an auth switch) works through
// querylens with the same results as direct, and statements after it are
// attributed to the new user and schema. A failed change is decoded as an
// error, and the proxy keeps relaying.
func TestChangeUser(t *testing.T) {
	node := needTool(t, "node", nodeHint)
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	require.NoError(t, err)
	s := requireServer(t)
	s.exec(t, "CREATE DATABASE IF NOT EXISTS cl_cu1", "CREATE DATABASE IF NOT EXISTS cl_cu2",
		"CREATE USER IF NOT EXISTS 'cu_second'@'%' IDENTIFIED BY 'cu-second-pw'",
		"GRANT ALL ON cl_cu2.* TO 'cu_second'@'%'")
	run := func(addr string) output {
		host, port := hostPort(t, addr)
		o := runClient(t, time.Minute, nil, []string{"QL_HOST=" + host, "QL_PORT=" + port,
			"QL_USER=" + testdb.User, "QL_PASSWORD=" + testdb.Password, "QL_DB=cl_cu1"},
			node, filepath.Join(dir, "changeuser.js"))
		require.Equal(t, 0, o.Code, "node changeuser: %s", o)
		return o
	}
	direct := run(s.Addr)
	ql := startQuerylens(t, s.Addr)
	proxied := run(ql.Addr)
	require.True(t, direct.same(proxied), "different results through querylens:\n%s\n%s", direct.Head, proxied.Head)
	assert.Contains(t, proxied.Head, `"u":"cu_second@%","d":"cl_cu2"`)
	assert.Contains(t, proxied.Head, `"change_user_error":1045`)

	snap := ql.snapshot(t)
	assert.Equal(t, uint64(2), snap.Commands[protocol.ComChangeUser.String()])
	assert.Equal(t, uint64(1), snap.CommandErrors[protocol.ComChangeUser.String()])
	var bySchema = map[string][]string{}
	for _, d := range snap.Digests {
		if strings.HasPrefix(d.Fingerprint, "select current_user()") {
			bySchema[d.Schema] = d.Users
		}
	}
	assert.Equal(t, map[string][]string{"cl_cu1": {testdb.User}, "cl_cu2": {"cu_second"}}, bySchema,
		"each statement attributed to the user and schema in force when it ran")
}
