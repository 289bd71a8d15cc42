package clients

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
)

const mariadbHint = "install the mariadb client with: sudo apt-get install mariadb-client"

// cliStep is one run of the mariadb client: one connection.
type cliStep struct {
	name  string
	args  []string // after the connection arguments
	stdin string   // path of a file fed on standard input, or ""
}

// TestMariaDBCLI runs the mariadb command-line client directly and through
// querylens over multi-statement batches, a procedure returning two result
// sets, a 50 MB LOAD DATA LOCAL INFILE, a 20 MB BLOB written and read back,
// and a streamed 1,000,000-row SELECT. Each run's output must be
// byte-identical both ways; querylens's counts must match the server's
// digest table and Com_* counters, with the differences the protocol cannot
// avoid spelled out below.
func TestMariaDBCLI(t *testing.T) {
	cli := needTool(t, "mariadb", mariadbHint)
	s := requireServer(t)
	const schema = "cl_cli"
	reset := func() {
		s.resetSchema(t, schema,
			"CREATE TABLE kv (k INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
			"CREATE TABLE bulk (id INT NOT NULL, payload VARCHAR(120) NOT NULL)",
			"CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB NOT NULL)",
			`CREATE PROCEDURE two_results(IN lim INT)
			BEGIN
				SELECT k, v FROM kv ORDER BY k LIMIT lim;
				SELECT COUNT(*) AS total, SUM(LENGTH(v)) AS len FROM kv;
			END`)
	}

	dir := t.TempDir()
	multi := filepath.Join(dir, "multi.sql")
	require.NoError(t, os.WriteFile(multi, []byte(`DELIMITER //
INSERT INTO kv (k, v) VALUES (1, 'one'), (2, 'two'), (3, 'three'); SELECT k, v FROM kv ORDER BY k; UPDATE kv SET v = 'TWO' WHERE k = 2; SELECT COUNT(*) AS n FROM kv //
SELECT 'before the error' AS marker; SELECT * FROM no_such_table; SELECT 'never runs' AS never //
DELIMITER ;
SELECT v FROM kv WHERE k = 3;
`), 0o644))
	infile, infileRows := writeInfile(t, dir, 50<<20)
	blobSQL, blobMD5 := writeBlobSQL(t, dir, 20<<20)

	steps := []cliStep{
		// --force: go on after the error in the second batch.
		{name: "multi-statements", args: []string{"--force"}, stdin: multi},
		{name: "call two result sets", args: []string{"-e", "CALL two_results(2); CALL two_results(3)"}},
		{name: "load data local infile", args: []string{"--local-infile=1", "-e",
			"LOAD DATA LOCAL INFILE '" + infile + "' INTO TABLE bulk FIELDS TERMINATED BY '\\t' (id, payload); " +
				"SELECT ROW_COUNT() AS loaded; SELECT COUNT(*), SUM(CRC32(payload)), MAX(id) FROM bulk"}},
		{name: "20 MB blob", args: []string{"--max-allowed-packet=1G"}, stdin: blobSQL},
		{name: "1M-row streamed select", args: []string{"--quick", "-e", "SELECT seq FROM seq_1_to_1000000"}},
	}
	run := func(addr string) []output {
		host, port := hostPort(t, addr)
		var outs []output
		for _, st := range steps {
			args := append([]string{"--no-defaults", "--protocol=tcp", "-h", host, "-P", port,
				"-u", testdb.User, "-p" + testdb.Password, "-D", schema, "--batch"}, st.args...)
			var in io.Reader
			if st.stdin != "" {
				f, err := os.Open(st.stdin)
				require.NoError(t, err)
				defer f.Close()
				in = f
			}
			o := runClient(t, 3*time.Minute, in, nil, cli, args...)
			outs = append(outs, o)
		}
		return outs
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

	for i, st := range steps {
		t.Logf("%s: %s", st.name, direct[i])
		assert.True(t, direct[i].same(proxied[i]), "%s: output differs\n direct:  %s\n proxied: %s", st.name, direct[i], proxied[i])
	}
	// The runs did what they should (so that equal outputs mean something).
	assert.Contains(t, direct[0].Stderr, "ERROR 1146 (42S02) at line 3: Table 'cl_cli.no_such_table' doesn't exist")
	assert.Contains(t, direct[2].Head, fmt.Sprintf("loaded\n%d\n", infileRows))
	assert.Contains(t, direct[3].Head, "20971520\t"+blobMD5)
	assert.Greater(t, direct[3].Len, int64(20<<20), "the blob was printed")
	assert.Equal(t, int64(len("seq\n")+6888896), direct[4].Len, "1,000,000 numbers, one a line")
	for i := range steps {
		assert.Equal(t, 0, direct[i].Code, steps[i].name)
	}

	// Com_* counters. The server counts statements inside the procedure
	// (two SELECTs per CALL) in Com_select; querylens sees only the CALL.
	// The server stops a multi-statement batch at its first error, so the
	// statement after it never runs, while querylens, which cannot tell,
	// counts the whole batch's statements.
	want, got := expectedCom(snap), groupCom(delta)
	const calls, notRun = 2, 1
	want["Com_select"] += 2*calls - notRun
	logCom(t, want, got)
	assert.Equal(t, want, got, "Com_* deltas (after the two adjustments above)")

	rows := joinStatements(statementLevel(snap, schema), s.serverDigests(t, schema))
	logDigestTable(t, rows)
	byFP := map[string]*digestRow{}
	for _, r := range rows {
		byFP[r.Fingerprint] = r
	}
	// These differ for the reasons given below and are checked by hand.
	const (
		callFP       = "call two_results(...)"
		errBatchFP   = "select ? as marker"
		blobOursFP   = "insert into blobs(id, b) values (?, ?"
		blobServerFP = "insert into blobs(id, b) values (?, (unknown))"
	)
	checkDigests(t, rows, false, callFP, errBatchFP, blobOursFP, blobServerFP)

	if r := byFP[callFP]; assert.NotNil(t, r, callFP) {
		assert.Equal(t, uint64(calls), r.Ours.Count)
		assert.Equal(t, uint64(calls), r.Server.Count)
		// The client received 2+1 and 3+1 rows in the two result sets of
		// the two calls, and querylens counts them; the server's digest row
		// for CALL counts none (they belong to the nested SELECTs, which have
		// no digest rows of their own).
		assert.Equal(t, uint64(2+1+3+1), r.Ours.RowsSent, "rows querylens counts for CALL")
		assert.Equal(t, uint64(0), r.Server.RowsSent, "rows the server attributes to CALL")
	}
	if r := byFP[errBatchFP]; assert.NotNil(t, r, errBatchFP) {
		// "SELECT marker; SELECT * FROM no_such_table; SELECT never": the
		// server ran two statements and stopped at the error; querylens
		// counts the batch once and so, per statement, three.
		assert.Equal(t, counts{Count: 3 * notRun, Errors: 1, RowsSent: 1}, r.Ours, "querylens")
		assert.Equal(t, counts{Count: 2, Errors: 1, RowsSent: 1}, r.Server, "server")
	}
	// The 40 MB INSERT: querylens keeps the first 64 KiB of a statement
	// (proxy.Config.MaxSQLBytes), so its fingerprint ends inside the hex
	// literal and differs from the same INSERT with a short literal
	// ("... values (...)"); the server's DIGEST_TEXT shows "(unknown)" for
	// the literal. Both count it once.
	if r := byFP[blobOursFP]; assert.NotNil(t, r, blobOursFP) {
		assert.Equal(t, counts{Count: 1, RowsAffected: 1}, r.Ours)
		assert.False(t, r.InServer)
	}
	if r := byFP[blobServerFP]; assert.NotNil(t, r, blobServerFP) {
		assert.Equal(t, counts{Count: 1, RowsAffected: 1}, r.Server)
		assert.False(t, r.InOurs)
	}
	if r := byFP["select seq from seq_1_to_1000000"]; assert.NotNil(t, r) {
		assert.Equal(t, uint64(1_000_000), r.Ours.RowsSent)
		assert.Equal(t, uint64(1_000_000), r.Server.RowsSent)
	}
	if r := byFP["load data local infile ? into table bulk fields terminated by ? (id, payload)"]; assert.NotNil(t, r) {
		assert.Equal(t, uint64(infileRows), r.Ours.RowsAffected)
	}

	// Bytes: the upload of LOAD DATA counts as sent by the client, the
	// BLOB as received.
	fi, err := os.Stat(infile)
	require.NoError(t, err)
	load := digestOf(t, snap, schema, "LOAD DATA LOCAL INFILE 'x' INTO TABLE bulk FIELDS TERMINATED BY '\\t' (id, payload)")
	assert.GreaterOrEqual(t, load.BytesIn, uint64(fi.Size()), "LOAD DATA bytes in")
	blob := digestOf(t, snap, schema, "SELECT b FROM blobs WHERE id = 1")
	assert.GreaterOrEqual(t, blob.BytesOut, uint64(20<<20), "BLOB bytes out")
	ins := digestOf(t, snap, schema, "INSERT INTO blobs (id, b) VALUES (1, X'"+strings.Repeat("ab", 40<<10))
	assert.GreaterOrEqual(t, ins.BytesIn, uint64(40<<20), "hex INSERT bytes in")
	t.Logf("40 MB INSERT: fingerprint %q truncated=%v; LOAD DATA bytes in %d (file %d); BLOB bytes out %d",
		ins.Fingerprint, ins.FingerprintTruncated, load.BytesIn, fi.Size(), blob.BytesOut)
}

// writeInfile writes a tab-separated file of at least size bytes and
// returns its path and row count.
func writeInfile(t *testing.T, dir string, size int) (string, int) {
	t.Helper()
	path := filepath.Join(dir, "bulk.tsv")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := bufio.NewWriterSize(f, 1<<20)
	rnd := rand.New(rand.NewPCG(1, 2))
	payload := make([]byte, 100)
	written, rows := 0, 0
	for written < size {
		rows++
		for i := range payload {
			payload[i] = 'a' + byte(rnd.IntN(26))
		}
		n, _ := fmt.Fprintf(w, "%d\t%s\n", rows, payload)
		written += n
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
	return path, rows
}

// writeBlobSQL writes a script that inserts a size-byte BLOB as a hex
// literal (a 2*size-byte statement, split over several protocol packets),
// then reads back its length and MD5 and the BLOB itself. It returns the
// script's path and the BLOB's MD5.
func writeBlobSQL(t *testing.T, dir string, size int) (string, string) {
	t.Helper()
	blob := make([]byte, size)
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range blob {
		blob[i] = byte(rnd.Uint32())
	}
	var b strings.Builder
	b.Grow(2*size + 256)
	b.WriteString("INSERT INTO blobs (id, b) VALUES (1, X'")
	b.WriteString(hex.EncodeToString(blob))
	b.WriteString("');\nSELECT id, LENGTH(b), MD5(b) FROM blobs;\nSELECT b FROM blobs WHERE id = 1;\n")
	path := filepath.Join(dir, "blob.sql")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path, md5Hex(blob)
}
