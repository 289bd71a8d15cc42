package protocol_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/protocol"
)

// -update re-records testdata/frames/*.hex from a throwaway MariaDB (the
// mariadbd and mariadb binaries must be installed); without it the tests
// decode the committed captures.
var update = flag.Bool("update", false, "re-record testdata/frames captures from a real server")

func TestMain(m *testing.M) { os.Exit(testdb.RunMain(m)) }

// scenario is one recorded connection and the events it must decode to.
type scenario struct {
	name    string
	comment string
	// record drives one connection to addr (a recording relay in front of
	// srv).
	record func(t *testing.T, srv *testdb.Server, addr string)
	// compressed captures are not annotated with packet boundaries.
	compressed bool
	want       []string
	// wantFn computes want from the events, for what the server chooses
	// (statement ids).
	wantFn func(evs []*protocol.Event) []string
	// check runs extra assertions on the replayed session.
	check func(t *testing.T, s *protocol.Session, evs []*protocol.Event)
}

func framesPath(name string) string { return filepath.Join("testdata", "frames", name+".hex") }

// loadScenario returns the capture of sc, recording it first with -update.
func loadScenario(t *testing.T, sc scenario) *capture {
	t.Helper()
	path := framesPath(sc.name)
	if *update {
		srv := testdb.Require(t)
		rec := newRecorder(t, srv.Addr)
		sc.record(t, srv, rec.addr())
		caps := rec.captures(t, 1)
		require.Len(t, caps, 1, "the scenario must open exactly one connection")
		c := caps[0]
		c.Comment = []string{
			"scenario " + sc.name + ": " + sc.comment,
			"server: MariaDB " + srv.Version + "; recorded by go test ./protocol -run TestCaptures -update",
			"format: see README.md in this directory ('>' client→server chunk, '<' server→client, offset since start)",
		}
		require.NoError(t, writeCapture(path, c, !sc.compressed))
	}
	c, err := readCapture(path)
	require.NoError(t, err)
	return c
}

func TestCaptures(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			c := loadScenario(t, sc)
			evs, s := replay(c, protocol.SessionConfig{ClientAddr: "127.0.0.1:1"}, nil, false)
			require.NoError(t, s.Err())
			assert.Equal(t, 0, s.InFlight(), "nothing in flight at the end")
			want := sc.want
			if sc.wantFn != nil {
				want = sc.wantFn(evs)
			}
			assert.Equal(t, want, formatEvents(evs))
			checkInvariants(t, c, evs)
			if sc.check != nil {
				sc.check(t, s, evs)
			}
		})
	}
}

// checkInvariants asserts what holds for every fully decoded capture: all
// bytes are attributed to some event, and the times are ordered.
func checkInvariants(t *testing.T, c *capture, evs []*protocol.Event) {
	t.Helper()
	var in, out uint64
	for i, e := range evs {
		in += e.BytesIn
		out += e.BytesOut
		if e.Incomplete {
			continue
		}
		assert.False(t, e.Start.Before(e.Sent), "event %d: start before sent", i)
		if !e.FirstResponse.IsZero() {
			assert.False(t, e.FirstResponse.Before(e.Sent), "event %d: first response before sent", i)
			assert.False(t, e.End.Before(e.FirstResponse), "event %d: end before first response", i)
		}
		assert.False(t, e.End.Before(e.Start), "event %d: end before start", i)
		if i > 0 && !evs[i-1].End.IsZero() {
			assert.False(t, e.Start.Before(evs[i-1].End), "event %d: start before the previous end", i)
		}
	}
	wantIn, wantOut := c.totals()
	assert.Equal(t, wantIn, in, "client bytes attributed to events")
	assert.Equal(t, wantOut, out, "server bytes attributed to events")
}

// openDB opens a go-sql-driver pool of one connection to addr.
func openDB(t *testing.T, srv *testdb.Server, addr string, tweak func(*mysql.Config)) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(srv.DSN(addr, testdb.Schema))
	require.NoError(t, err)
	if tweak != nil {
		tweak(cfg)
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	return db
}

// drain reads every result set of rows and returns the row count.
func drain(t *testing.T, rows *sql.Rows) int {
	t.Helper()
	n := 0
	for {
		cols, err := rows.Columns()
		require.NoError(t, err)
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(sql.RawBytes)
		}
		for rows.Next() {
			require.NoError(t, rows.Scan(vals...))
			n++
		}
		if !rows.NextResultSet() {
			break
		}
	}
	return n
}

// mustErr asserts a MySQL error number.
func mustErr(t *testing.T, err error, code uint16) {
	t.Helper()
	var me *mysql.MySQLError
	require.True(t, errors.As(err, &me), "want MySQL error %d, got %v", code, err)
	require.Equal(t, code, me.Number)
}

// runCLI runs the mariadb command-line client against addr in dir.
func runCLI(t *testing.T, addr, dir string, args ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	all := append([]string{"--no-defaults", "-h" + host, "-P" + port, "-u" + testdb.User,
		"-p" + testdb.Password, "--skip-ssl"}, args...)
	cmd := exec.Command("mariadb", all...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "mariadb: %s", out)
	return string(out)
}

func scenarios() []scenario {
	return []scenario{
		{
			name:    "gosql_basic",
			comment: "go-sql-driver (DEPRECATE_EOF, CACHE_METADATA, multiStatements): queries, errors, multi-results, ping",
			record:  recordGoBasic,
			want: []string{
				`connect user=ql schema=harness results=1`,
				`query "DROP TABLE IF EXISTS basic_t" results=1 warnings=1`,
				`query "CREATE TABLE basic_t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))" results=1`,
				`query "INSERT INTO basic_t (v) VALUES ('a'), ('b'), ('c')" results=1 affected=3 insert_id=1`,
				`query "SELECT id, v FROM basic_t ORDER BY id" results=1 rows=3`,
				`query "SELECT * FROM no_such_table" err=1146`,
				`query "SELEC 1" err=1064`,
				`query "UPDATE basic_t SET v = 'z' WHERE id > 1" results=1 affected=2`,
				`ping results=1`,
				`query "SELECT 1; SELECT 2, 3; UPDATE basic_t SET v = 'y' WHERE id =…(85 bytes)" results=4 rows=5 affected=1`,
				`query "SELECT 1; SELECT * FROM nope; SELECT 2" results=1 rows=1 err=1146`,
				`query "SELECT * FROM basic_t WHERE id < 0" results=1`,
				`query "SELECT NULL, 1, ''" results=1 rows=1`,
				`query "START TRANSACTION" results=1`,
				`query "INSERT INTO basic_t (v) VALUES ('tx')" results=1 affected=1 insert_id=4`,
				`query "ROLLBACK" results=1`,
				`quit`,
			},
			check: func(t *testing.T, s *protocol.Session, evs []*protocol.Event) {
				info := s.Info()
				assert.Equal(t, protocol.FlavorMariaDB, info.Flavor)
				assert.True(t, strings.HasPrefix(info.ServerVersion, "10.11."), info.ServerVersion)
				assert.Equal(t, "ql", info.User)
				assert.Equal(t, "harness", info.Schema)
				assert.Equal(t, "mysql_native_password", info.AuthPlugin)
				assert.True(t, info.Caps.Has(protocol.CapDeprecateEOF|protocol.CapMariaDBCacheMetadata|protocol.CapMultiStatements))
				assert.False(t, info.Caps.Has(protocol.CapSessionTrack))
				assert.True(t, info.ServerCaps.Has(protocol.CapMariaDBProgress))
				assert.Contains(t, info.Attrs, protocol.Attr{Key: "_client_name", Value: "Go-MySQL-Driver"})
				assert.NotZero(t, info.ConnID)
				for _, e := range evs {
					assert.Equal(t, info.ConnID, e.ConnID)
					assert.Equal(t, "127.0.0.1:1", e.ClientAddr)
				}
			},
		},
		{
			name:    "cli_batch",
			comment: "mariadb CLI in batch mode (-e): no DEPRECATE_EOF, SESSION_TRACK, extended metadata; USE via COM_INIT_DB",
			record: func(t *testing.T, srv *testdb.Server, addr string) {
				runCLI(t, addr, t.TempDir(), "harness", "-e",
					"SELECT 1; SELECT seq FROM seq_1_to_10; USE mysql; SELECT DATABASE(); SHOW WARNINGS; DO 1")
			},
			want: []string{
				`connect user=ql schema=harness results=1`,
				`query "SELECT 1" results=1 rows=1`,
				`query "SELECT seq FROM seq_1_to_10" results=1 rows=10`,
				`query "SELECT DATABASE()" results=1 rows=1`,
				`init_db "mysql" results=1`,
				`query "SELECT DATABASE()" results=1 rows=1`,
				`query "SHOW WARNINGS" results=1`,
				`query "DO 1" results=1`,
				`quit`,
			},
			check: func(t *testing.T, s *protocol.Session, evs []*protocol.Event) {
				info := s.Info()
				assert.Equal(t, "mysql", info.Schema)
				assert.False(t, info.Caps.Has(protocol.CapDeprecateEOF))
				assert.True(t, info.Caps.Has(protocol.CapSessionTrack|protocol.CapMariaDBExtMetadata|protocol.CapMariaDBProgress))
				assert.Equal(t, "mysql", evs[len(evs)-2].Schema, "events carry the schema at send time")
			},
		},
		{
			name:    "gosql_prepared",
			comment: "go-sql-driver with interpolateParams=false: PREPARE/EXECUTE/CLOSE, errors, a 0-param 0-column PREPARE",
			record:  recordGoPrepared,
			want: []string{
				`connect user=ql schema=harness results=1`,
				`query "DROP TABLE IF EXISTS prep_t" results=1 warnings=1`,
				`query "CREATE TABLE prep_t (id INT PRIMARY KEY, v VARCHAR(20))" results=1`,
				`stmt_prepare "SELECT ? + 1" stmt=1 results=1`,
				`stmt_execute "SELECT ? + 1" stmt=1 results=1 rows=1 params=[41]`,
				`stmt_close "SELECT ? + 1" stmt=1`,
				`stmt_prepare "INSERT INTO prep_t VALUES (?, ?)" stmt=2 results=1`,
				`stmt_execute "INSERT INTO prep_t VALUES (?, ?)" stmt=2 results=1 affected=1 params=[1, 'v1']`,
				`stmt_execute "INSERT INTO prep_t VALUES (?, ?)" stmt=2 results=1 affected=1 params=[2, 'v2']`,
				`stmt_execute "INSERT INTO prep_t VALUES (?, ?)" stmt=2 results=1 affected=1 params=[3, 'v3']`,
				`stmt_execute "INSERT INTO prep_t VALUES (?, ?)" stmt=2 err=1062 params=[1, 'dup']`,
				`stmt_close "INSERT INTO prep_t VALUES (?, ?)" stmt=2`,
				`stmt_prepare "SELEC ?" err=1064`,
				`stmt_prepare "SELECT seq, ? FROM seq_1_to_100" stmt=4 results=1`,
				`stmt_execute "SELECT seq, ? FROM seq_1_to_100" stmt=4 results=1 rows=100 params=['x']`,
				`stmt_close "SELECT seq, ? FROM seq_1_to_100" stmt=4`,
				`stmt_prepare "SELECT id, v FROM prep_t WHERE id >= ?" stmt=5 results=1`,
				`stmt_execute "SELECT id, v FROM prep_t WHERE id >= ?" stmt=5 results=1 rows=2 params=[2]`,
				`stmt_close "SELECT id, v FROM prep_t WHERE id >= ?" stmt=5`,
				`stmt_prepare "DO 1" stmt=6 results=1`,
				`stmt_execute "DO 1" stmt=6 results=1`,
				`stmt_close "DO 1" stmt=6`,
				`quit`,
			},
		},
		{
			name:    "gosql_infile",
			comment: "go-sql-driver LOAD DATA LOCAL INFILE: uploads, an empty upload, a refused file, LOCAL INFILE inside a multi-statement",
			record:  recordGoInfile,
			want: []string{
				`connect user=ql schema=harness results=1`,
				`query "DROP TABLE IF EXISTS infile_t" results=1 warnings=1`,
				`query "CREATE TABLE infile_t (id INT, v VARCHAR(10))" results=1`,
				`query "LOAD DATA LOCAL INFILE 'Reader::csv' INTO TABLE infile_t FIE…(81 bytes)" results=1 affected=3`,
				`query "LOAD DATA LOCAL INFILE 'Reader::empty' INTO TABLE infile_t F…(83 bytes)" results=1`,
				`query "LOAD DATA LOCAL INFILE '/no/such/file.csv' INTO TABLE infile_t" results=1`,
				`query "SELECT 1; LOAD DATA LOCAL INFILE 'Reader::csv' INTO TABLE in…(122 bytes)" results=3 rows=2 affected=3`,
				`quit`,
			},
		},
		{
			name:    "cli_infile",
			comment: "mariadb CLI --local-infile (progress reports enabled: MariaDB sends a progress packet after the upload)",
			record: func(t *testing.T, srv *testdb.Server, addr string) {
				dir := t.TempDir()
				require.NoError(t, os.WriteFile(filepath.Join(dir, "data.csv"), []byte("1,a\n2,b\n3,c\n"), 0o644))
				runCLI(t, addr, dir, "--local-infile=1", "harness", "-e",
					"DROP TABLE IF EXISTS cli_infile; CREATE TABLE cli_infile (id INT, v VARCHAR(10)); "+
						"LOAD DATA LOCAL INFILE 'data.csv' INTO TABLE cli_infile FIELDS TERMINATED BY ','; "+
						"SELECT COUNT(*) FROM cli_infile")
			},
			want: []string{
				`connect user=ql schema=harness results=1`,
				`query "DROP TABLE IF EXISTS cli_infile" results=1 warnings=1`,
				`query "CREATE TABLE cli_infile (id INT, v VARCHAR(10))" results=1`,
				`query "LOAD DATA LOCAL INFILE 'data.csv' INTO TABLE cli_infile FIELDS TERMINATED BY ','" results=1 affected=3`,
				`query "SELECT COUNT(*) FROM cli_infile" results=1 rows=1`,
				`quit`,
			},
		},
		{
			name:    "gosql_big",
			comment: "go-sql-driver: rows of 16 MiB and exactly 0xFFFFFF bytes, a 17 MiB statement, a statement of exactly 0xFFFFFF bytes",
			record:  recordGoBig,
			want: []string{
				`connect user=ql schema=harness results=1`,
				`query "SELECT REPEAT('a', 16777216)" results=1 rows=1`,
				`query "SELECT REPEAT('b', 16777211)" results=1 rows=1`,
				`query "SELECT LENGTH('ccccccccccccccccccccccccccccccccccccccccccccc…(65536 bytes)" results=1 rows=1 truncated(17825809)`,
				`query "SELECT LENGTH('ddddddddddddddddddddddddddddddddddddddddddddd…(65536 bytes)" results=1 rows=1 truncated(16777214)`,
				`query "SELECT 1" results=1 rows=1`,
				`quit`,
			},
		},
		{
			name:       "gosql_compress",
			comment:    "go-sql-driver with compress=true (zlib frames, raw frames for small bodies)",
			record:     recordGoCompress,
			compressed: true,
			check:      checkZlib,
			want: []string{
				`connect user=ql schema=harness results=1`,
				`query "SELECT 1" results=1 rows=1`,
				`query "SELECT seq, REPEAT('x', 100) FROM seq_1_to_5000" results=1 rows=5000`,
				`query "SELECT REPEAT('a', 16777216)" results=1 rows=1`,
				`query "SELECT LENGTH('ccccccccccccccccccccccccccccccccccccccccccccc…(65536 bytes)" results=1 rows=1 truncated(200017)`,
				`query "SELECT * FROM nope" err=1146`,
				`ping results=1`,
				`quit`,
			},
		},
		{
			name:       "cli_compress",
			comment:    "mariadb CLI --compress",
			compressed: true,
			record: func(t *testing.T, srv *testdb.Server, addr string) {
				runCLI(t, addr, t.TempDir(), "--compress", "harness", "-e",
					"SELECT 1; SELECT seq, REPEAT('x', 100) FROM seq_1_to_2000; SELECT REPEAT('y', 70000)")
			},
			check: checkZlib,
			want: []string{
				`connect user=ql schema=harness results=1`,
				`query "SELECT 1" results=1 rows=1`,
				`query "SELECT seq, REPEAT('x', 100) FROM seq_1_to_2000" results=1 rows=2000`,
				`query "SELECT REPEAT('y', 70000)" results=1 rows=1`,
				`quit`,
			},
		},
		{
			name:    "gosql_bad_password",
			comment: "go-sql-driver login with a wrong password: ERR 1045 ends the handshake",
			record: func(t *testing.T, srv *testdb.Server, addr string) {
				db := openDB(t, srv, addr, func(c *mysql.Config) { c.Passwd = "wrong" })
				mustErr(t, db.Ping(), 1045)
				db.Close()
			},
			want: []string{
				`connect user=ql schema=harness err=1045`,
			},
		},
		{
			name:    "gosql_bad_schema",
			comment: "go-sql-driver login into a missing schema: ERR 1049 ends the handshake",
			record: func(t *testing.T, srv *testdb.Server, addr string) {
				db := openDB(t, srv, addr, func(c *mysql.Config) { c.DBName = "no_such_db" })
				mustErr(t, db.Ping(), 1049)
				db.Close()
			},
			want: []string{
				`connect user=ql schema=no_such_db err=1049`,
			},
		},
		{
			name:    "raw_eof",
			comment: "raw client with DEPRECATE_EOF, CACHE_METADATA, SESSION_TRACK, PROGRESS, BULK: every command kind, pipelined",
			record: func(t *testing.T, srv *testdb.Server, addr string) {
				rawScript(t, addr, rawCapsModern)
			},
			wantFn: rawWant,
			check: func(t *testing.T, s *protocol.Session, evs []*protocol.Event) {
				assert.Equal(t, "mysql", schemaAfter(t, "raw_eof", "USE mysql"), "session tracking reports USE")
				assert.Equal(t, "mysql", s.Info().Schema, "COM_CHANGE_USER into mysql")
				assert.Equal(t, "ql", s.Info().User)
			},
		},
		{
			name:    "gosql_params",
			comment: "go-sql-driver with interpolateParams=false binding every Go type it supports, a long string, 70 parameters",
			record:  recordGoParams,
			wantFn:  goParamsWant,
			check:   checkGoParams,
		},
		{
			name:    "raw_params",
			comment: "raw client: EXECUTE binding every binary type, reused types, SEND_LONG_DATA, STMT_RESET, pipelined PREPARE + EXECUTE(-1), BULK_EXECUTE with NULL/DEFAULT/IGNORE",
			record: func(t *testing.T, srv *testdb.Server, addr string) {
				rawParamsScript(t, addr)
			},
			wantFn: rawParamsWant,
		},
		{
			name:    "raw_noeof",
			comment: "raw client without DEPRECATE_EOF, CACHE_METADATA, SESSION_TRACK or PROGRESS: the same script",
			record: func(t *testing.T, srv *testdb.Server, addr string) {
				rawScript(t, addr, rawCapsClassic)
			},
			wantFn: rawWant,
			check: func(t *testing.T, s *protocol.Session, evs []*protocol.Event) {
				// Without SESSION_TRACK a USE inside COM_QUERY goes unseen.
				assert.Equal(t, "harness", schemaAfter(t, "raw_noeof", "USE mysql"))
				assert.Equal(t, "mysql", s.Info().Schema, "COM_CHANGE_USER into mysql")
			},
		},
	}
}

func checkZlib(t *testing.T, s *protocol.Session, evs []*protocol.Event) {
	assert.Equal(t, protocol.CompressionZlib, s.Info().Compression)
	assert.True(t, s.Info().Caps.Has(protocol.CapCompress))
}

// schemaAfter replays a capture and returns the session's schema right
// after the event with sql was emitted.
func schemaAfter(t *testing.T, name, sql string) string {
	t.Helper()
	c, err := readCapture(framesPath(name))
	require.NoError(t, err)
	var s *protocol.Session
	schema, found := "", false
	s = protocol.NewSession(protocol.SessionConfig{Handler: func(e *protocol.Event) {
		if e.SQL == sql && !found {
			schema, found = s.Info().Schema, true
		}
	}})
	for _, ch := range c.Chunks {
		s.Feed(ch.Dir, ch.Data, base.Add(ch.At))
	}
	require.True(t, found, "no event %q", sql)
	return schema
}

func recordGoPrepared(t *testing.T, srv *testdb.Server, addr string) {
	db := openDB(t, srv, addr, func(c *mysql.Config) { c.InterpolateParams = false })
	ctx := context.Background()
	_, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS prep_t")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "CREATE TABLE prep_t (id INT PRIMARY KEY, v VARCHAR(20))")
	require.NoError(t, err)
	var v int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT ? + 1", 41).Scan(&v))
	require.Equal(t, 42, v)
	stmt, err := db.PrepareContext(ctx, "INSERT INTO prep_t VALUES (?, ?)")
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		_, err := stmt.ExecContext(ctx, i, "v"+strconv.Itoa(i))
		require.NoError(t, err)
	}
	_, err = stmt.ExecContext(ctx, 1, "dup")
	mustErr(t, err, 1062)
	require.NoError(t, stmt.Close())
	_, err = db.PrepareContext(ctx, "SELEC ?")
	mustErr(t, err, 1064)
	rows, err := db.QueryContext(ctx, "SELECT seq, ? FROM seq_1_to_100", "x")
	require.NoError(t, err)
	require.Equal(t, 100, drain(t, rows))
	rows, err = db.QueryContext(ctx, "SELECT id, v FROM prep_t WHERE id >= ?", 2)
	require.NoError(t, err)
	require.Equal(t, 2, drain(t, rows))
	stmt, err = db.PrepareContext(ctx, "DO 1")
	require.NoError(t, err)
	_, err = stmt.ExecContext(ctx)
	require.NoError(t, err)
	require.NoError(t, stmt.Close())
	require.NoError(t, db.Close())
}

func recordGoInfile(t *testing.T, srv *testdb.Server, addr string) {
	mysql.RegisterReaderHandler("csv", func() io.Reader { return strings.NewReader("1,a\n2,b\n3,c\n") })
	mysql.RegisterReaderHandler("empty", func() io.Reader { return strings.NewReader("") })
	t.Cleanup(func() {
		mysql.DeregisterReaderHandler("csv")
		mysql.DeregisterReaderHandler("empty")
	})
	db := openDB(t, srv, addr, nil)
	ctx := context.Background()
	exec := func(q string) int64 {
		r, err := db.ExecContext(ctx, q)
		require.NoError(t, err)
		n, _ := r.RowsAffected()
		return n
	}
	exec("DROP TABLE IF EXISTS infile_t")
	exec("CREATE TABLE infile_t (id INT, v VARCHAR(10))")
	require.EqualValues(t, 3, exec("LOAD DATA LOCAL INFILE 'Reader::csv' INTO TABLE infile_t FIELDS TERMINATED BY ','"))
	require.EqualValues(t, 0, exec("LOAD DATA LOCAL INFILE 'Reader::empty' INTO TABLE infile_t FIELDS TERMINATED BY ','"))
	_, err := db.ExecContext(ctx, "LOAD DATA LOCAL INFILE '/no/such/file.csv' INTO TABLE infile_t")
	require.Error(t, err) // refused by the driver: it sends an empty packet
	rows, err := db.QueryContext(ctx, "SELECT 1; LOAD DATA LOCAL INFILE 'Reader::csv' INTO TABLE infile_t FIELDS TERMINATED BY ','; SELECT COUNT(*) FROM infile_t")
	require.NoError(t, err)
	require.Equal(t, 2, drain(t, rows))
	require.NoError(t, rows.Close())
	require.NoError(t, db.Close())
}

func recordGoBig(t *testing.T, srv *testdb.Server, addr string) {
	db := openDB(t, srv, addr, nil)
	ctx := context.Background()
	var s string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT REPEAT('a', 16777216)").Scan(&s))
	require.Len(t, s, 16777216)
	require.NoError(t, db.QueryRowContext(ctx, "SELECT REPEAT('b', 16777211)").Scan(&s))
	require.Len(t, s, 16777211)
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT LENGTH(?)", strings.Repeat("c", 17<<20)).Scan(&n))
	require.Equal(t, 17<<20, n)
	// 1 (COM_QUERY) + 15 + N + 2 == 0xFFFFFF: the client ends with an empty packet.
	require.NoError(t, db.QueryRowContext(ctx, "SELECT LENGTH(?)", strings.Repeat("d", 0xFFFFFF-18)).Scan(&n))
	require.Equal(t, 0xFFFFFF-18, n)
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&n))
	require.NoError(t, db.Close())
}

func recordGoCompress(t *testing.T, srv *testdb.Server, addr string) {
	db := openDB(t, srv, addr, func(c *mysql.Config) { c.Apply(mysql.EnableCompression(true)) })
	ctx := context.Background()
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&n))
	rows, err := db.QueryContext(ctx, "SELECT seq, REPEAT('x', 100) FROM seq_1_to_5000")
	require.NoError(t, err)
	require.Equal(t, 5000, drain(t, rows))
	var s string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT REPEAT('a', 16777216)").Scan(&s))
	require.Len(t, s, 16777216)
	require.NoError(t, db.QueryRowContext(ctx, "SELECT LENGTH(?)", strings.Repeat("c", 200000)).Scan(&n))
	require.Equal(t, 200000, n)
	_, err = db.ExecContext(ctx, "SELECT * FROM nope")
	mustErr(t, err, 1146)
	require.NoError(t, db.PingContext(ctx))
	require.NoError(t, db.Close())
}

var (
	_ = io.EOF
	_ = binary.LittleEndian
	_ = strconv.Itoa
	_ = time.Now
)

func recordGoBasic(t *testing.T, srv *testdb.Server, addr string) {
	db := openDB(t, srv, addr, nil)
	ctx := context.Background()
	exec := func(q string) sql.Result {
		r, err := db.ExecContext(ctx, q)
		require.NoError(t, err)
		return r
	}
	exec("DROP TABLE IF EXISTS basic_t")
	exec("CREATE TABLE basic_t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))")
	r := exec("INSERT INTO basic_t (v) VALUES ('a'), ('b'), ('c')")
	n, _ := r.RowsAffected()
	require.EqualValues(t, 3, n)
	rows, err := db.QueryContext(ctx, "SELECT id, v FROM basic_t ORDER BY id")
	require.NoError(t, err)
	require.Equal(t, 3, drain(t, rows))
	_, err = db.ExecContext(ctx, "SELECT * FROM no_such_table")
	mustErr(t, err, 1146)
	_, err = db.ExecContext(ctx, "SELEC 1")
	mustErr(t, err, 1064)
	r = exec("UPDATE basic_t SET v = 'z' WHERE id > 1")
	n, _ = r.RowsAffected()
	require.EqualValues(t, 2, n)
	require.NoError(t, db.PingContext(ctx))
	rows, err = db.QueryContext(ctx, "SELECT 1; SELECT 2, 3; UPDATE basic_t SET v = 'y' WHERE id = 1; SELECT v FROM basic_t")
	require.NoError(t, err)
	require.Equal(t, 5, drain(t, rows))
	rows, err = db.QueryContext(ctx, "SELECT 1; SELECT * FROM nope; SELECT 2")
	require.NoError(t, err)
	for rows.Next() {
	}
	require.False(t, rows.NextResultSet())
	mustErr(t, rows.Err(), 1146)
	rows.Close()
	rows, err = db.QueryContext(ctx, "SELECT * FROM basic_t WHERE id < 0")
	require.NoError(t, err)
	require.Equal(t, 0, drain(t, rows))
	rows, err = db.QueryContext(ctx, "SELECT NULL, 1, ''")
	require.NoError(t, err)
	require.Equal(t, 1, drain(t, rows))
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "INSERT INTO basic_t (v) VALUES ('tx')")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	require.NoError(t, db.Close())
}
