package testdb_test

import (
	"database/sql"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.RunMain(m)) }

func TestServerBootsAndAcceptsTestUser(t *testing.T) {
	srv := testdb.Require(t)
	db, err := sql.Open("mysql", srv.DSN("", testdb.Schema))
	require.NoError(t, err)
	defer db.Close()
	var user, schema string
	require.NoError(t, db.QueryRow("SELECT CURRENT_USER(), DATABASE()").Scan(&user, &schema))
	require.Equal(t, testdb.User+"@%", user)
	require.Equal(t, testdb.Schema, schema)
	var pfs string
	require.NoError(t, db.QueryRow("SELECT @@performance_schema").Scan(&pfs))
	require.Equal(t, "1", pfs)
	require.Contains(t, srv.Version, "MariaDB")
}
