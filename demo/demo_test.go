package demo_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/querylens/querylens/demo"
)

func open(t *testing.T, addr string) *sql.DB {
	t.Helper()
	c := mysql.NewConfig()
	c.User, c.Net, c.Addr, c.DBName = demo.User, "tcp", addr, demo.Database
	db, err := sql.Open("mysql", c.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// newServer starts an embedded server for the test, closed at its end.
func newServer(t *testing.T) *demo.Server {
	t.Helper()
	srv, err := demo.NewServer(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return srv
}

// TestServerSeeded: the embedded server answers on loopback with the
// seeded blog.
func TestServerSeeded(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t)
	assert.Regexp(t, `^127\.0\.0\.1:\d+$`, srv.Addr())

	db := open(t, srv.Addr())
	for table, want := range map[string]int{"users": demo.SeedUsers, "posts": demo.SeedPosts, "comments": demo.SeedComments} {
		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n), table)
		assert.Equal(t, want, n, table)
	}
	var sum int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT SUM(comment_count) FROM posts").Scan(&sum))
	assert.Equal(t, demo.SeedComments, sum, "post counters agree with the comments")
}

// TestWorkloadDirect plays the pages straight against the embedded server
// (no proxy): every page works, and the errors it causes are the intended
// ones.
func TestWorkloadDirect(t *testing.T) {
	srv := newServer(t)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan demo.Stats, 1)
	go func() {
		st, err := demo.Run(ctx, demo.WorkloadConfig{Address: srv.Addr(), PauseMin: time.Millisecond, PauseMax: 2 * time.Millisecond}, zaptest.NewLogger(t))
		assert.NoError(t, err)
		done <- st
	}()
	// Play until twelve comments were added, twelve rounds.
	db := open(t, srv.Addr())
	require.Eventually(t, func() bool {
		var n int
		err := db.QueryRow("SELECT COUNT(*) FROM comments").Scan(&n)
		return err == nil && n >= demo.SeedComments+12
	}, 60*time.Second, 20*time.Millisecond)
	cancel()
	st := <-done
	t.Logf("%+v", st)
	assert.Zero(t, st.Failed, "pages failed")
	// Twelve comment pages mean eleven whole rounds and the first three
	// pages of the twelfth: searches on the missing table in rounds 3
	// and 7, sign-ups with a taken id in rounds 1, 4, 7 and 10.
	assert.GreaterOrEqual(t, st.Pages, uint64(11*6+3))
	assert.GreaterOrEqual(t, st.Expected, uint64(6), "intended errors")

	// The cancelled workload's last COMMIT may still be running on the
	// server when Run returns (the driver gives up on the connection, the
	// server finishes the statement), so the two totals are compared once
	// they have settled: a transaction applied in part would never settle.
	var comments, counted int
	settled := assert.Eventually(t, func() bool {
		err := db.QueryRow("SELECT (SELECT COUNT(*) FROM comments), (SELECT SUM(comment_count) FROM posts)").Scan(&comments, &counted)
		return err == nil && comments == counted
	}, 5*time.Second, 20*time.Millisecond, "each added comment bumped its post (transactions)")
	if !settled {
		t.Logf("%d comments, %d counted by the posts", comments, counted)
	}
}

func TestWorkloadConfigValidate(t *testing.T) {
	for name, c := range map[string]demo.WorkloadConfig{
		"no address": {},
		"network":    {Network: "udp", Address: "x"},
		"pauses":     {Address: "x", PauseMin: time.Second, PauseMax: time.Millisecond},
		"page size":  {Address: "x", PageSize: demo.SeedPosts + 1},
		"negative":   {Address: "x", PauseMin: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := demo.Run(context.Background(), c, zaptest.NewLogger(t))
			assert.Error(t, err)
		})
	}
}

// TestSeedSpread: every post has comments, so the post page and the home
// page's counts return rows.
func TestSeedSpread(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t)
	db := open(t, srv.Addr())
	var without int
	require.NoError(t, db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM posts p WHERE NOT EXISTS (SELECT 1 FROM comments c WHERE c.post_id = p.id)").Scan(&without))
	assert.Zero(t, without, "posts without comments")
	rows, err := db.QueryContext(ctx,
		"SELECT c.id, c.body, u.name FROM comments c JOIN users u ON u.id = c.user_id WHERE c.post_id = ? ORDER BY c.id LIMIT 20", 7)
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Err())
	rows.Close()
	assert.Positive(t, n, "the post page's comments query returns rows")
}

// TestReadersLoseNoCommit: SELECTs running beside a writer do not undo its
// commits. go-mysql-server's memory storage writes every table a statement
// read back at the statement's end; without the server's read/write lock a
// reader overlapping a commit put the older table back.
func TestReadersLoseNoCommit(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t)
	db := open(t, srv.Addr())
	db.SetMaxOpenConns(8)

	const writes = 300
	stop := make(chan struct{})
	readers := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-stop:
					readers <- nil
					return
				default:
				}
				var n int
				if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM comments c JOIN posts p ON p.id = c.post_id").Scan(&n); err != nil {
					readers <- err
					return
				}
			}
		}()
	}
	for i := range writes {
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, "INSERT INTO comments (post_id, user_id, body, created_at) VALUES (?, 1, 'x', NOW())", 1+i%demo.SeedPosts)
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, "UPDATE posts SET comment_count = comment_count + 1 WHERE id = ?", 1+i%demo.SeedPosts)
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
	}
	close(stop)
	for range 4 {
		require.NoError(t, <-readers)
	}
	var comments, counted int
	require.NoError(t, db.QueryRowContext(ctx,
		"SELECT (SELECT COUNT(*) FROM comments), (SELECT SUM(comment_count) FROM posts)").Scan(&comments, &counted))
	assert.Equal(t, demo.SeedComments+writes, comments, "comments")
	assert.Equal(t, demo.SeedComments+writes, counted, "post counters")
}
