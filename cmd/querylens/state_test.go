package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/fingerprint"
	"github.com/querylens/querylens/internal/testdb"
)

// TestStateFileSurvivesRestart: counts from before a restart are kept.
func TestStateFileSurvivesRestart(t *testing.T) {
	srv := testdb.Require(t)
	state := filepath.Join(t.TempDir(), "state.json")
	const q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'restart'"
	digest := fingerprint.New(fingerprint.DefaultConfig()).Fingerprint(q).Digest.String()
	countOf := func(ql *instance) uint64 {
		for _, d := range getDigests(t, ql.http, "") {
			if d.Digest == digest {
				return d.Count
			}
		}
		return 0
	}
	runQueries := func(ql *instance, n int) {
		db, err := sql.Open("mysql", srv.DSN(ql.listen, testdb.Schema))
		require.NoError(t, err)
		defer db.Close()
		var c int
		for range n {
			require.NoError(t, db.QueryRow(q).Scan(&c))
		}
	}

	first := startQuerylens(t, srv.Addr, "--state-file", state)
	runQueries(first, 10)
	assert.Equal(t, uint64(10), countOf(first))
	require.NoError(t, first.stop())
	require.FileExists(t, state)

	second := startQuerylens(t, srv.Addr, "--state-file", state)
	assert.Equal(t, uint64(10), countOf(second), "restored")
	runQueries(second, 5)
	assert.Equal(t, uint64(15), countOf(second))
	require.NoError(t, second.stop())

	third := startQuerylens(t, srv.Addr, "--state-file", state)
	assert.Equal(t, uint64(15), countOf(third), "saved again at the second shutdown")
}

// TestStateFileCorrupt: a state file that is not a snapshot stops the
// start with an error naming it, and is left untouched.
func TestStateFileCorrupt(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(state, []byte("{not json"), 0o600))
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"--listen", freeAddr(t), "--http", "", "--upstream", "127.0.0.1:1", "--state-file", state}, &bytes.Buffer{}, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), state)
	assert.Contains(t, err.Error(), "-state-file")
	b, _ := os.ReadFile(state)
	assert.Equal(t, "{not json", string(b))
}
