package demo

import (
	"context"
	"strings"
	"sync"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
)

// go-mysql-server's in-memory storage has no isolation between sessions:
// a statement takes the tables it reads into its session, and the commit at
// its end puts every one of them back into the database, read or written.
// A SELECT that runs while another session commits therefore writes the
// older table back over the newer one, and the commit is lost: a reader
// counting comments while the workload added one removed that comment and
// left its post's counter bumped.
//
// serialized keeps a commit out of any statement's run: statements that
// only read share a lock, every other command (writes, COMMIT, SET, ...)
// holds it alone. Readers still run side by side. Transactions that several
// clients interleave can still overwrite each other; the workload runs its
// one transaction at a time.
type serialized struct {
	mysql.Handler
	mu sync.RWMutex
}

// serialize is the server.HandlerWrapper that installs serialized.
func serialize(h mysql.Handler) (mysql.Handler, error) { return &serialized{Handler: h}, nil }

func (h *serialized) lock(query string) (unlock func()) {
	if readOnly(query) {
		h.mu.RLock()
		return h.mu.RUnlock
	}
	h.mu.Lock()
	return h.mu.Unlock
}

func (h *serialized) ComQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) error {
	defer h.lock(query)()
	return h.Handler.ComQuery(ctx, c, query, callback)
}

func (h *serialized) ComMultiQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) (string, error) {
	defer h.lock(query)()
	return h.Handler.ComMultiQuery(ctx, c, query, callback)
}

func (h *serialized) ComPrepare(ctx context.Context, c *mysql.Conn, query string, prepare *mysql.PrepareData) ([]*querypb.Field, error) {
	defer h.lock(query)()
	return h.Handler.ComPrepare(ctx, c, query, prepare)
}

func (h *serialized) ComStmtExecute(ctx context.Context, c *mysql.Conn, prepare *mysql.PrepareData, callback func(*sqltypes.Result) error) error {
	defer h.lock(prepare.PrepareStmt)()
	return h.Handler.ComStmtExecute(ctx, c, prepare, callback)
}

// readOnly reports whether a statement only reads tables, judged by its
// first keyword after blanks, comments and opening parentheses. Anything it
// does not know counts as a write.
func readOnly(query string) bool {
	q := query
	for {
		q = strings.TrimLeft(q, " \t\r\n(")
		switch {
		case strings.HasPrefix(q, "/*"):
			end := strings.Index(q[2:], "*/")
			if end < 0 {
				return false
			}
			q = q[2+end+2:]
		case strings.HasPrefix(q, "#"), strings.HasPrefix(q, "-- "):
			end := strings.IndexByte(q, '\n')
			if end < 0 {
				return false
			}
			q = q[end+1:]
		default:
			end := strings.IndexFunc(q, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
			})
			if end >= 0 {
				q = q[:end]
			}
			switch strings.ToUpper(q) {
			case "SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN":
				return true
			}
			return false
		}
	}
}
