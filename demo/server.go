package demo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	gms "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	gmssql "github.com/dolthub/go-mysql-server/sql"
	"github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"
)

// Database is the schema the embedded server holds and the workload uses.
const Database = "blog"

// User is the user name the workload connects as. The embedded server has
// no accounts and accepts any name; this one only labels the statistics.
const User = "blog"

// Seed sizes: what the database holds at start.
const (
	SeedUsers    = 40
	SeedPosts    = 120
	SeedComments = 600
)

// Server is an in-memory MySQL-compatible server listening on loopback.
type Server struct {
	srv  *server.Server
	ln   net.Listener
	done chan struct{}

	closeOnce sync.Once
}

// NewServer starts the embedded server on 127.0.0.1 on a free port, creates
// the blog schema and seeds it. The seed runs over a direct connection, not
// through the proxy, so it does not show in the statistics.
func NewServer(ctx context.Context) (*Server, error) {
	// go-mysql-server logs every connection, and failing queries with their
	// text, to logrus's standard logger. The demo has no use for it.
	logrus.SetOutput(io.Discard)

	db := memory.NewDatabase(Database)
	db.BaseDatabase.EnablePrimaryKeyIndexes()
	pro := memory.NewDBProvider(db)
	engine := gms.NewDefault(pro)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("embedded server: listen: %w", err)
	}
	cfg := server.Config{Protocol: "tcp", Address: ln.Addr().String(), Listener: ln}
	srv, err := server.NewServerWithHandler(cfg, engine, gmssql.NewContext, memory.NewSessionBuilder(pro), nil, serialize)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	s := &Server{srv: srv, ln: ln, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = srv.Start() // returns once the listener is closed
	}()
	if err := s.seed(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("embedded server: seeding %s: %w", Database, err)
	}
	return s, nil
}

// Addr is the server's address, host:port on 127.0.0.1.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting connections and closes the listener. Connections
// still open are ended by their clients.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		_ = s.srv.Close()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
		}
	})
	return nil
}

// schema is the blog: who writes, what they write, and who answers.
var schema = []string{
	`CREATE TABLE users (
		id INT PRIMARY KEY,
		name VARCHAR(64) NOT NULL,
		email VARCHAR(128) NOT NULL,
		created_at DATETIME NOT NULL
	)`,
	`CREATE TABLE posts (
		id INT PRIMARY KEY,
		author_id INT NOT NULL,
		title VARCHAR(200) NOT NULL,
		body TEXT NOT NULL,
		comment_count INT NOT NULL DEFAULT 0,
		created_at DATETIME NOT NULL
	)`,
	`CREATE INDEX posts_author ON posts (author_id)`,
	`CREATE TABLE comments (
		id INT PRIMARY KEY AUTO_INCREMENT,
		post_id INT NOT NULL,
		user_id INT NOT NULL,
		body TEXT NOT NULL,
		created_at DATETIME NOT NULL
	)`,
	`CREATE INDEX comments_post ON comments (post_id)`,
}

// words make titles and bodies.
var words = strings.Fields(`proxy query index join latency cache replica schema
	table row loop batch plan shard buffer commit snapshot digest metric trace`)

func (s *Server) seed(ctx context.Context) error {
	db, err := sql.Open("mysql", dsn("tcp", s.Addr()))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range schema {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(strings.Fields(q)[:3], " "), err)
		}
	}
	base := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	stamp := func(i int) string { return base.Add(time.Duration(i) * 37 * time.Minute).Format(time.DateTime) }
	var b strings.Builder
	insert := func(head string, n int, row func(i int) string) error {
		b.Reset()
		b.WriteString(head)
		for i := 1; i <= n; i++ {
			if i > 1 {
				b.WriteByte(',')
			}
			b.WriteString(row(i))
		}
		_, err := db.ExecContext(ctx, b.String())
		return err
	}
	if err := insert("INSERT INTO users (id, name, email, created_at) VALUES ", SeedUsers, func(i int) string {
		return fmt.Sprintf("(%d, 'user%d', 'user%d@example.com', '%s')", i, i, i, stamp(i))
	}); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	if err := insert("INSERT INTO posts (id, author_id, title, body, comment_count, created_at) VALUES ", SeedPosts, func(i int) string {
		return fmt.Sprintf("(%d, %d, 'On %s and %s', 'A post about %s.', %d, '%s')", i, 1+i*7%SeedUsers,
			words[i%len(words)], words[(i*3+1)%len(words)], words[(i*5+2)%len(words)], commentsOf(i), stamp(i))
	}); err != nil {
		return fmt.Errorf("posts: %w", err)
	}
	if err := insert("INSERT INTO comments (id, post_id, user_id, body, created_at) VALUES ", SeedComments, func(i int) string {
		return fmt.Sprintf("(%d, %d, %d, 'Comment %d on %s.', '%s')", i, commentPost(i), 1+i*11%SeedUsers,
			i, words[i%len(words)], stamp(i))
	}); err != nil {
		return fmt.Errorf("comments: %w", err)
	}
	return nil
}

// commentPost spreads the seeded comments over the posts, two to eight
// each: comment i belongs to post commentPost(i).
func commentPost(i int) int { return 1 + (i*37+(i*i)%11)%SeedPosts }

// commentsOf counts the seeded comments of a post.
func commentsOf(post int) int {
	n := 0
	for i := 1; i <= SeedComments; i++ {
		if commentPost(i) == post {
			n++
		}
	}
	return n
}

// dsn is a go-sql-driver DSN for the blog through network and address.
// Prepared statements stay prepared statements (no client-side
// interpolation), so the binary protocol is part of the demo.
func dsn(network, address string) string {
	c := mysql.NewConfig()
	c.User = User
	c.Net = network
	c.Addr = address
	c.DBName = Database
	c.InterpolateParams = false
	c.Timeout = 5 * time.Second
	c.ReadTimeout = 30 * time.Second
	c.WriteTimeout = 30 * time.Second
	return c.FormatDSN()
}

// isClosed reports errors that mean the work was stopped, not that it
// failed.
func isClosed(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, net.ErrClosed)
}
