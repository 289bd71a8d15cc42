package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/stats"
)

// TestReportFromLiveProxies: `querylens report` reads two live proxies and
// a saved snapshot, merges them, and counts every statement once per source.
func TestReportFromLiveProxies(t *testing.T) {
	srv := testdb.Require(t)
	a := startQuerylens(t, srv.Addr)
	b := startQuerylens(t, srv.Addr)
	const q = "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name <> 'report_e2e'"
	for i, ql := range []*instance{a, b} {
		db, err := sql.Open("mysql", srv.DSN(ql.listen, testdb.Schema))
		require.NoError(t, err)
		var n int
		for range 3 + i*4 { // 3 through a, 7 through b
			require.NoError(t, db.QueryRow(q).Scan(&n))
		}
		db.Close()
	}
	getDigests(t, a.http, "")
	getDigests(t, b.http, "")

	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"report", "--from", "http://" + a.http + "," + b.http, "--format", "json"}, &out, &errb), errb.String())
	var list stats.DigestList
	require.NoError(t, json.Unmarshal(out.Bytes(), &list))
	var count uint64
	for _, d := range list.Digests {
		if d.Fingerprint == "select count(*) from information_schema.schemata where schema_name <> ?" {
			count = d.Count
		}
	}
	assert.Equal(t, uint64(10), count, "3 + 7, merged")

	// A saved snapshot file is a source too; text output names the statement.
	resp, err := httpGet("http://" + a.http + "/api/v1/snapshot")
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "a.json")
	require.NoError(t, os.WriteFile(file, resp, 0o600))
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"report", file}, &out, &errb))
	assert.Contains(t, out.String(), "select count(*) from information_schema.schemata")

	err = run(context.Background(), []string{"report", "--format", "xml", file}, &out, &errb)
	require.Error(t, err)
	assert.Equal(t, 2, exitCode(err))
}

func httpGet(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
