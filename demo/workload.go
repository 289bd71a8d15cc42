package demo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
)

// Defaults of WorkloadConfig.
const (
	DefaultPauseMin = 500 * time.Millisecond
	DefaultPauseMax = 900 * time.Millisecond
	DefaultPageSize = 30
	// keepComments is how many of the comments it added the workload keeps.
	keepComments = 300
	// txTimeout bounds a transaction that goes on after the demo stopped.
	txTimeout = 10 * time.Second
)

// MySQL error numbers the workload causes on purpose.
const (
	erNoSuchTable = 1146
	erDupEntry    = 1062
)

// WorkloadConfig says where the blog's application connects and how it
// behaves. Zero fields take their defaults.
type WorkloadConfig struct {
	// Network and Address are those of the server the application talks
	// to (the proxy's listen address): "tcp" and host:port, or "unix" and
	// a socket path. An unspecified host (":6033", "0.0.0.0:6033") means
	// loopback.
	Network, Address string
	// PauseMin and PauseMax bound the think time between two pages: long
	// enough for each page to be a unit of work of its own (querylens
	// ends one after 250ms of idle). Defaults DefaultPauseMin and
	// DefaultPauseMax.
	PauseMin, PauseMax time.Duration
	// PageSize is how many posts the home page lists, and so how many
	// queries its N+1 loop runs. Default DefaultPageSize.
	PageSize int
	// Seed makes the choice of posts, users and pauses repeatable. The
	// zero value is a seed like any other.
	Seed uint64
}

func (c WorkloadConfig) withDefaults() WorkloadConfig {
	if c.Network == "" {
		c.Network = "tcp"
	}
	if c.PauseMin == 0 {
		c.PauseMin = DefaultPauseMin
	}
	if c.PauseMax == 0 {
		c.PauseMax = DefaultPauseMax
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	return c
}

// Validate reports settings that make no sense.
func (c WorkloadConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Network != "tcp" && c.Network != "unix":
		return fmt.Errorf("workload: network %q, want tcp or unix", c.Network)
	case c.Address == "":
		return errors.New("workload: no address")
	case c.PauseMin < 0 || c.PauseMax < c.PauseMin:
		return fmt.Errorf("workload: pauses %v..%v, want 0 <= min <= max", c.PauseMin, c.PauseMax)
	case c.PageSize < 1 || c.PageSize > SeedPosts:
		return fmt.Errorf("workload: page size %d, want 1..%d", c.PageSize, SeedPosts)
	}
	return nil
}

// DialAddress is where to connect to reach a listener on addr: addr
// itself, or loopback for an unspecified host (":6033", "0.0.0.0:6033",
// "[::]:6033"). Unix socket paths are returned as they are.
func DialAddress(network, addr string) string {
	if network != "tcp" {
		return addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// Stats counts what the workload did.
type Stats struct {
	Pages    uint64 // pages played
	Expected uint64 // errors caused on purpose (missing table, duplicate key)
	Failed   uint64 // pages cut short by an unexpected error
}

// workload is one run of Run.
type workload struct {
	cfg   WorkloadConfig
	log   *zap.Logger
	rng   *rand.Rand
	app   *sql.DB // the application's pool
	fresh *sql.DB // the health check's: no idle connection is kept
	stats Stats

	round     int
	lastAdded int64 // id of the newest comment the workload added
	firstNew  int64 // id of its first one
}

// Run plays the blog's pages until ctx ends, then returns what it did.
// Errors that stop a page are logged (at error level) and counted in
// Stats.Failed, and the next page is played: the proxy, or the server
// behind it, may be briefly away. Run returns an error only for a config
// that makes no sense.
func Run(ctx context.Context, cfg WorkloadConfig, log *zap.Logger) (Stats, error) {
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	cfg = cfg.withDefaults()
	addr := DialAddress(cfg.Network, cfg.Address)
	app, err := sql.Open("mysql", dsn(cfg.Network, addr))
	if err != nil {
		return Stats{}, fmt.Errorf("workload: %w", err)
	}
	defer app.Close()
	app.SetMaxOpenConns(4)
	app.SetMaxIdleConns(4)
	fresh, err := sql.Open("mysql", dsn(cfg.Network, addr))
	if err != nil {
		return Stats{}, fmt.Errorf("workload: %w", err)
	}
	defer fresh.Close()
	fresh.SetMaxIdleConns(0) // connect, query, disconnect: a handler that opens a connection per query

	w := &workload{cfg: cfg, log: log, rng: rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)), app: app, fresh: fresh}
	pages := []struct {
		name string
		play func(context.Context) error
	}{
		{"home", w.home},
		{"post", w.post},
		{"comment", w.comment},
		{"search", w.search},
		{"signup", w.signup},
		{"health", w.health},
	}
	for {
		for _, p := range pages {
			if ctx.Err() != nil {
				return w.stats, nil
			}
			if err := p.play(ctx); err != nil && !isClosed(ctx, err) {
				w.stats.Failed++
				w.log.Error("demo workload: page failed", zap.String("page", p.name), zap.Error(err))
			}
			w.stats.Pages++
			if !w.pause(ctx) {
				return w.stats, nil
			}
		}
		w.round++
	}
}

// pause waits for a random think time, or until ctx ends (false).
func (w *workload) pause(ctx context.Context) bool {
	d := w.cfg.PauseMin
	if span := w.cfg.PauseMax - w.cfg.PauseMin; span > 0 {
		d += time.Duration(w.rng.Int64N(int64(span) + 1))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// conn takes one connection of the pool for a page: its statements are
// one burst on one connection, as a request handler's would be.
func (w *workload) conn(ctx context.Context) (*sql.Conn, error) {
	c, err := w.app.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return c, nil
}

// home lists the newest posts, then counts each one's comments with a
// query of its own: the N+1 loop an ORM writes for a lazily loaded
// association. The IN (...) rewrite would be one query.
func (w *workload) home(ctx context.Context) error {
	c, err := w.conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	offset := (w.round % 3) * w.cfg.PageSize
	rows, err := c.QueryContext(ctx, fmt.Sprintf(
		"SELECT id, title, author_id, created_at FROM posts ORDER BY created_at DESC, id DESC LIMIT %d OFFSET %d",
		w.cfg.PageSize, offset))
	if err != nil {
		return fmt.Errorf("list posts: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id, author int64
		var title, created string
		if err := rows.Scan(&id, &title, &author, &created); err != nil {
			rows.Close()
			return fmt.Errorf("list posts: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("list posts: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list posts: %w", err)
	}
	for _, id := range ids {
		var n int64
		// Text protocol, the literal in the SQL: what an ORM that
		// interpolates its parameters sends.
		if err := c.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM comments WHERE post_id = %d", id)).Scan(&n); err != nil {
			return fmt.Errorf("count comments of post %d: %w", id, err)
		}
	}
	return nil
}

// post shows one post: the signed-in user is loaded by the session
// middleware, the template and the permission check, each on its own (a
// repeated read), then the post with its author and its comments with
// theirs, one join each. Arguments are sent as prepared statements.
func (w *workload) post(ctx context.Context) error {
	c, err := w.conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	me := 1 + w.rng.IntN(SeedUsers)
	for range 3 {
		var name, email string
		if err := c.QueryRowContext(ctx, "SELECT name, email FROM users WHERE id = ?", me).Scan(&name, &email); err != nil {
			return fmt.Errorf("load user %d: %w", me, err)
		}
	}
	post := 1 + w.rng.IntN(SeedPosts)
	var title, body, author string
	if err := c.QueryRowContext(ctx,
		"SELECT p.title, p.body, u.name FROM posts p JOIN users u ON u.id = p.author_id WHERE p.id = ?", post,
	).Scan(&title, &body, &author); err != nil {
		return fmt.Errorf("load post %d: %w", post, err)
	}
	rows, err := c.QueryContext(ctx,
		"SELECT c.id, c.body, u.name FROM comments c JOIN users u ON u.id = c.user_id WHERE c.post_id = ? ORDER BY c.id LIMIT 20", post)
	if err != nil {
		return fmt.Errorf("load comments of post %d: %w", post, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var text, name string
		if err := rows.Scan(&id, &text, &name); err != nil {
			return fmt.Errorf("load comments of post %d: %w", post, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load comments of post %d: %w", post, err)
	}
	return nil
}

// comment adds a comment and bumps its post's counter in one transaction,
// and now and then trims the comments the workload added.
func (w *workload) comment(ctx context.Context) error {
	post := 1 + w.rng.IntN(SeedPosts)
	user := 1 + w.rng.IntN(SeedUsers)
	// A transaction once begun runs to its end even when the demo stops, so
	// that a stop never leaves a half-done page behind.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), txTimeout)
	defer cancel()
	tx, err := w.app.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	res, err := tx.ExecContext(ctx, "INSERT INTO comments (post_id, user_id, body, created_at) VALUES (?, ?, ?, NOW())",
		post, user, fmt.Sprintf("Nice one (round %d).", w.round))
	if err != nil {
		return fmt.Errorf("insert comment: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("insert comment: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE posts SET comment_count = comment_count + 1 WHERE id = ?", post); err != nil {
		return fmt.Errorf("update post %d: %w", post, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if w.firstNew == 0 {
		w.firstNew = id
	}
	w.lastAdded = id
	if w.lastAdded-w.firstNew >= 2*keepComments {
		// The post counters keep counting: they are not the point.
		if _, err := w.app.ExecContext(ctx, fmt.Sprintf("DELETE FROM comments WHERE id >= %d AND id <= %d",
			w.firstNew, w.lastAdded-keepComments)); err != nil {
			return fmt.Errorf("trim comments: %w", err)
		}
		w.firstNew = w.lastAdded - keepComments + 1
	}
	return nil
}

// search looks for posts by a word in their title. Every fourth search
// goes through an old code path that still names the table "post": the
// server answers with error 1146.
func (w *workload) search(ctx context.Context) error {
	word := words[w.rng.IntN(len(words))]
	table := "posts"
	if w.round%4 == 3 {
		table = "post"
	}
	rows, err := w.app.QueryContext(ctx,
		fmt.Sprintf("SELECT id, title FROM %s WHERE title LIKE '%%%s%%' ORDER BY id DESC LIMIT 10", table, word))
	if isMySQLError(err, erNoSuchTable) {
		w.stats.Expected++
		return nil
	}
	if err != nil {
		return fmt.Errorf("search %q: %w", word, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var title string
		if err := rows.Scan(&id, &title); err != nil {
			return fmt.Errorf("search %q: %w", word, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("search %q: %w", word, err)
	}
	return nil
}

// signup runs every third round: a visitor signs up, but the form
// resubmits an id that is taken, and the server answers with error 1062.
func (w *workload) signup(ctx context.Context) error {
	if w.round%3 != 1 {
		return nil
	}
	id := 1 + w.rng.IntN(SeedUsers)
	_, err := w.app.ExecContext(ctx, "INSERT INTO users (id, name, email, created_at) VALUES (?, ?, ?, NOW())",
		id, fmt.Sprintf("visitor%d", w.round), fmt.Sprintf("visitor%d@example.com", w.round))
	if isMySQLError(err, erDupEntry) {
		w.stats.Expected++
		return nil
	}
	if err != nil {
		return fmt.Errorf("sign up: %w", err)
	}
	return fmt.Errorf("sign up: user %d was inserted, want a duplicate key", id)
}

// health is a liveness probe written the expensive way: a new connection
// for one SELECT 1, closed right after (connection churn).
func (w *workload) health(ctx context.Context) error {
	var one int
	if err := w.fresh.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	return nil
}

// isMySQLError reports whether err is the server's error number.
func isMySQLError(err error, number uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == number
}
