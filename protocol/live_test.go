package protocol_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/internal/testdb"
	"github.com/querylens/querylens/protocol"
)

// seen is what a client observed for one command, in the terms of an Event.
type seen struct {
	cmd      protocol.Command
	sql      string
	results  int
	rows     uint64
	affected uint64
	err      uint16
	params   string // the decoded parameters, as SQL literals
}

func (o seen) String() string {
	return fmt.Sprintf("%s %q results=%d rows=%d affected=%d err=%d params=[%s]", o.cmd, o.sql, o.results, o.rows, o.affected, o.err, o.params)
}

func seenOf(e *protocol.Event) seen {
	o := seen{cmd: e.Command, sql: e.SQL, results: e.Results, rows: e.RowsSent, affected: e.RowsAffected, err: e.ErrorCode}
	lits := make([]string, len(e.Params))
	for i, p := range e.Params {
		lits[i] = p.String()
	}
	o.params = strings.Join(lits, ", ")
	if e.ParamsUndecodable {
		o.params += " undecodable"
	}
	return o
}

// liveSession relays one connection through a recorder while a Session
// decodes it in real time.
type liveSession struct {
	s   *protocol.Session
	evs []*protocol.Event
}

func observeLive(rec *recorder) *liveSession {
	ls := &liveSession{}
	ls.s = protocol.NewSession(protocol.SessionConfig{Handler: func(e *protocol.Event) { ls.evs = append(ls.evs, e) }})
	rec.observe(func(ch chunk) { ls.s.Feed(ch.Dir, ch.Data, time.Now()) })
	return ls
}

// TestLive runs a randomized go-sql-driver workload through the recording
// relay and checks every event against what the client saw.
func TestLive(t *testing.T) {
	srv := testdb.Require(t)
	t.Run("text", func(t *testing.T) { runLive(t, srv, true) })
	t.Run("prepared", func(t *testing.T) { runLive(t, srv, false) })
}

func runLive(t *testing.T, srv *testdb.Server, interpolate bool) {
	rec := newRecorder(t, srv.Addr)
	ls := observeLive(rec)
	db := openDB(t, srv, rec.addr(), func(c *mysql.Config) {
		c.InterpolateParams = interpolate
		c.AllowAllFiles = false
	})
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(7, uint64(len(t.Name()))))
	table := "live_text"
	if !interpolate {
		table = "live_prep"
	}
	var want []seen
	var inserted uint64 // 1 once a row with id 1 exists
	// With parameters and interpolateParams=false, go-sql-driver prepares,
	// executes and closes a statement.
	withArgs := func(sql string, res seen, params string) []seen {
		if interpolate {
			return []seen{res}
		}
		res.cmd, res.sql, res.params = protocol.ComStmtExecute, sql, params
		return []seen{
			{cmd: protocol.ComStmtPrepare, sql: sql, results: 1},
			res,
			{cmd: protocol.ComStmtClose, sql: sql},
		}
	}
	countRows := func(rows *sql.Rows, err error) uint64 {
		t.Helper()
		require.NoError(t, err)
		return uint64(drain(t, rows))
	}
	errNo := func(err error) uint16 {
		var me *mysql.MySQLError
		if err == nil || !errors.As(err, &me) {
			t.Fatalf("want a MySQL error, got %v", err)
		}
		return me.Number
	}

	for _, s := range []string{"DROP TABLE IF EXISTS " + table, "CREATE TABLE " + table + " (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT)"} {
		_, err := db.ExecContext(ctx, s)
		require.NoError(t, err)
		want = append(want, seen{cmd: protocol.ComQuery, sql: s, results: 1})
	}
	for i := range 300 {
		switch rnd.IntN(7) {
		case 0: // a result set of random size
			n := rnd.IntN(3000)
			sql := "SELECT seq, REPEAT('r', seq % 50) FROM seq_0_to_" + fmt.Sprint(n) + " WHERE seq > ?"
			rows := countRows(db.QueryContext(ctx, sql, 0))
			require.EqualValues(t, n, rows)
			res := seen{results: 1, rows: rows}
			if interpolate {
				res.cmd, res.sql = protocol.ComQuery, strings.Replace(sql, "?", "0", 1)
				want = append(want, res)
			} else {
				want = append(want, withArgs(sql, res, "0")...)
			}
		case 1: // insert
			k := 1 + rnd.IntN(5)
			sql := "INSERT INTO " + table + " (v) VALUES (?)" + strings.Repeat(", (?)", k-1)
			args := make([]any, k)
			for j := range args {
				args[j] = fmt.Sprintf("value %d/%d", i, j)
			}
			r, err := db.ExecContext(ctx, sql, args...)
			require.NoError(t, err)
			aff, _ := r.RowsAffected()
			inserted = 1
			res := seen{results: 1, affected: uint64(aff)}
			if interpolate {
				lit := make([]string, k)
				for j := range lit {
					lit[j] = "('" + args[j].(string) + "')"
				}
				res.cmd, res.sql = protocol.ComQuery, "INSERT INTO "+table+" (v) VALUES "+strings.Join(lit, ", ")
				want = append(want, res)
			} else {
				lits := make([]string, k)
				for j := range lits {
					lits[j] = "'" + args[j].(string) + "'"
				}
				want = append(want, withArgs(sql, res, strings.Join(lits, ", "))...)
			}
		case 2: // an error
			sql := fmt.Sprintf("SELECT * FROM missing_%d", i)
			_, err := db.ExecContext(ctx, sql)
			want = append(want, seen{cmd: protocol.ComQuery, sql: sql, err: errNo(err)})
		case 3: // a multi-statement batch
			// The UPDATE changes row 1 once the first INSERT made it.
			sql := fmt.Sprintf("SELECT %d; SELECT seq FROM seq_1_to_%d; UPDATE %s SET v = CONCAT(v, '!') WHERE id = 1", i, 1+i%7, table)
			rows := countRows(db.QueryContext(ctx, sql))
			want = append(want, seen{cmd: protocol.ComQuery, sql: sql, results: 3, rows: rows, affected: inserted})
		case 4:
			require.NoError(t, db.PingContext(ctx))
			want = append(want, seen{cmd: protocol.ComPing, results: 1})
		case 5: // an error inside a multi-statement batch
			sql := fmt.Sprintf("SELECT %d; SELECT * FROM missing; SELECT 2", i)
			rows, err := db.QueryContext(ctx, sql)
			require.NoError(t, err)
			for rows.Next() {
			}
			rows.NextResultSet()
			code := errNo(rows.Err())
			rows.Close()
			want = append(want, seen{cmd: protocol.ComQuery, sql: sql, results: 1, rows: 1, err: code})
		case 6: // an update of random size
			sql := fmt.Sprintf("UPDATE %s SET v = CONCAT(v, '+') WHERE id %% %d = 0", table, 1+rnd.IntN(4))
			r, err := db.ExecContext(ctx, sql)
			require.NoError(t, err)
			aff, _ := r.RowsAffected()
			want = append(want, seen{cmd: protocol.ComQuery, sql: sql, results: 1, affected: uint64(aff)})
		}
	}
	if interpolate {
		// Rows of 16 MiB and more, and a 3 MiB LOCAL INFILE upload (its
		// packet sequence ids wrap past 255).
		for _, n := range []int{16777216, 16777211, 20 << 20} {
			sql := fmt.Sprintf("SELECT REPEAT('x', %d), 1", n)
			rows := countRows(db.QueryContext(ctx, sql))
			want = append(want, seen{cmd: protocol.ComQuery, sql: sql, results: 1, rows: rows})
		}
		var data strings.Builder
		for data.Len() < 3<<20 {
			fmt.Fprintf(&data, "%d\tline %d of the upload\n", data.Len(), data.Len())
		}
		mysql.RegisterReaderHandler("live", func() io.Reader { return strings.NewReader(data.String()) })
		defer mysql.DeregisterReaderHandler("live")
		sql := "LOAD DATA LOCAL INFILE 'Reader::live' INTO TABLE " + table
		r, err := db.ExecContext(ctx, sql)
		require.NoError(t, err)
		aff, _ := r.RowsAffected()
		want = append(want, seen{cmd: protocol.ComQuery, sql: sql, results: 1, affected: uint64(aff)})
	}
	require.NoError(t, db.Close())
	caps := rec.captures(t, 1)
	require.Len(t, caps, 1)

	require.NoError(t, ls.s.Err())
	require.Equal(t, 0, ls.s.InFlight())
	require.GreaterOrEqual(t, len(ls.evs), 2)
	assert.Equal(t, protocol.ComConnect, ls.evs[0].Command)
	assert.Zero(t, ls.evs[0].ErrorCode)
	assert.Equal(t, protocol.ComQuit, ls.evs[len(ls.evs)-1].Command)
	got := make([]string, 0, len(ls.evs))
	for _, e := range ls.evs[1 : len(ls.evs)-1] {
		if e.SQLTruncated {
			t.Fatalf("unexpected truncation: %s", formatEvent(e))
		}
		got = append(got, seenOf(e).String())
	}
	wantS := make([]string, len(want))
	for i, w := range want {
		wantS[i] = w.String()
	}
	assert.Equal(t, wantS, got)
	var rows, in, out uint64
	for _, e := range ls.evs {
		rows += e.RowsSent
		in += e.BytesIn
		out += e.BytesOut
	}
	t.Logf("%d events, %d rows, %d bytes in, %d bytes out", len(ls.evs), rows, in, out)
	checkInvariants(t, caps[0], ls.evs)

	// The recording decodes to the same events.
	replayed, _ := replay(caps[0], protocol.SessionConfig{}, nil, true)
	assert.Equal(t, formatEvents(ls.evs), formatEvents(replayed))
}
