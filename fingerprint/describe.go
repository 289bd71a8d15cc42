package fingerprint

import (
	"slices"
	"strings"
	"sync"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"

	// The parser needs a value-expression driver; test_driver is the
	// standalone one shipped with the parser module (TiDB's own lives in the
	// server module).
	_ "github.com/pingcap/tidb/pkg/parser/test_driver"
)

// Statement kinds reported in Info.Kind. The set is closed: every statement
// maps to exactly one of these, and anything not listed is KindOther.
const (
	KindSelect         = "select" // SELECT, UNION/EXCEPT/INTERSECT, WITH ... SELECT, TABLE, VALUES
	KindInsert         = "insert"
	KindReplace        = "replace"
	KindUpdate         = "update"
	KindDelete         = "delete"
	KindLoadData       = "load_data"
	KindCall           = "call"
	KindDo             = "do"
	KindSet            = "set" // SET variables, SET NAMES, SET TRANSACTION, SET ROLE
	KindShow           = "show"
	KindExplain        = "explain" // EXPLAIN, DESCRIBE, DESC
	KindUse            = "use"
	KindBegin          = "begin" // BEGIN, START TRANSACTION
	KindCommit         = "commit"
	KindRollback       = "rollback" // including ROLLBACK TO SAVEPOINT
	KindSavepoint      = "savepoint"
	KindRelease        = "release_savepoint"
	KindPrepare        = "prepare"
	KindExecute        = "execute"
	KindDeallocate     = "deallocate"
	KindCreateTable    = "create_table"
	KindAlterTable     = "alter_table"
	KindDropTable      = "drop_table"
	KindTruncateTable  = "truncate_table"
	KindRenameTable    = "rename_table"
	KindCreateIndex    = "create_index"
	KindDropIndex      = "drop_index"
	KindCreateView     = "create_view"
	KindDropView       = "drop_view"
	KindCreateDatabase = "create_database"
	KindAlterDatabase  = "alter_database"
	KindDropDatabase   = "drop_database"
	KindLockTables     = "lock_tables"
	KindUnlockTables   = "unlock_tables"
	KindAnalyzeTable   = "analyze_table"
	KindGrant          = "grant"  // GRANT privileges or roles
	KindRevoke         = "revoke" // REVOKE privileges or roles
	KindUser           = "user"   // CREATE/ALTER/DROP/RENAME USER, SET PASSWORD
	KindFlush          = "flush"
	KindKill           = "kill"
	KindOther          = "other"
)

// Info is what a real parser tells about a statement. It is computed once
// per digest, on its first sighting.
type Info struct {
	// Kind is the statement kind, one of the Kind constants. For a
	// multi-statement string it is the kind of the first statement.
	Kind string
	// Tables are the tables touched, "schema.table" or "table", lower-cased,
	// deduplicated and sorted; nil when none. CTE names and the aliases
	// named as targets of a multi-table DELETE are not tables.
	Tables []string
	// ParseError is set when the TiDB parser could not parse the statement
	// (or it was longer than describeMaxInput and was not given to it); Kind
	// then comes from the first keywords and Tables is nil.
	ParseError bool
}

// describeMaxInput bounds what Describe hands to the parser: the parser
// copies literals and builds a full AST, which for a multi-megabyte blob
// INSERT costs far more than the statement is worth.
const describeMaxInput = 1 << 20

// pooledParserMaxInput: parsers that saw a bigger statement keep big
// internal buffers and are dropped instead of pooled.
const pooledParserMaxInput = 64 << 10

// parserPool holds TiDB parsers: parser.New is heavy (about 40 KiB of
// tables) and a parser must not be used by two goroutines at once.
var parserPool = sync.Pool{New: func() any { return parser.New() }}

// Describe parses sql with the TiDB parser and reports its kind and the
// tables it touches. It is safe for concurrent use and never panics: when
// the parser fails (or panics), Kind falls back to the first keywords.
func Describe(sql string) (info Info) {
	if len(sql) > describeMaxInput {
		return describeByKeyword(sql)
	}
	defer func() {
		if r := recover(); r != nil {
			info = describeByKeyword(sql)
		}
	}()
	p := parserPool.Get().(*parser.Parser)
	stmts, _, err := p.Parse(sql, "", "")
	if err != nil {
		parserPool.Put(p)
		return describeByKeyword(sql)
	}
	// The statements live in the parser's reusable result slice: read them
	// before the parser goes back to the pool. A parser that panicked above
	// is simply not returned.
	info = describeStmts(stmts)
	if len(sql) <= pooledParserMaxInput {
		parserPool.Put(p)
	}
	return info
}

func describeStmts(stmts []ast.StmtNode) Info {
	if len(stmts) == 0 {
		return Info{Kind: KindOther}
	}
	info := Info{Kind: stmtKind(stmts[0])}
	c := tableCollector{}
	for _, s := range stmts {
		s.Accept(&c)
	}
	info.Tables = c.result()
	return info
}

func stmtKind(s ast.StmtNode) string {
	switch x := s.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt:
		return KindSelect
	case *ast.InsertStmt:
		if x.IsReplace {
			return KindReplace
		}
		return KindInsert
	case *ast.UpdateStmt:
		return KindUpdate
	case *ast.DeleteStmt:
		return KindDelete
	case *ast.LoadDataStmt:
		return KindLoadData
	case *ast.CallStmt:
		return KindCall
	case *ast.DoStmt:
		return KindDo
	case *ast.SetStmt, *ast.SetRoleStmt, *ast.SetDefaultRoleStmt:
		return KindSet
	case *ast.SetPwdStmt, *ast.CreateUserStmt, *ast.AlterUserStmt, *ast.DropUserStmt, *ast.RenameUserStmt:
		return KindUser
	case *ast.ShowStmt:
		return KindShow
	case *ast.ExplainStmt, *ast.ExplainForStmt:
		return KindExplain
	case *ast.UseStmt:
		return KindUse
	case *ast.BeginStmt:
		return KindBegin
	case *ast.CommitStmt:
		return KindCommit
	case *ast.RollbackStmt:
		return KindRollback
	case *ast.SavepointStmt:
		return KindSavepoint
	case *ast.ReleaseSavepointStmt:
		return KindRelease
	case *ast.PrepareStmt:
		return KindPrepare
	case *ast.ExecuteStmt:
		return KindExecute
	case *ast.DeallocateStmt:
		return KindDeallocate
	case *ast.CreateTableStmt:
		return KindCreateTable
	case *ast.AlterTableStmt:
		return KindAlterTable
	case *ast.DropTableStmt:
		if x.IsView {
			return KindDropView
		}
		return KindDropTable
	case *ast.TruncateTableStmt:
		return KindTruncateTable
	case *ast.RenameTableStmt:
		return KindRenameTable
	case *ast.CreateIndexStmt:
		return KindCreateIndex
	case *ast.DropIndexStmt:
		return KindDropIndex
	case *ast.CreateViewStmt:
		return KindCreateView
	case *ast.CreateDatabaseStmt:
		return KindCreateDatabase
	case *ast.AlterDatabaseStmt:
		return KindAlterDatabase
	case *ast.DropDatabaseStmt:
		return KindDropDatabase
	case *ast.LockTablesStmt:
		return KindLockTables
	case *ast.UnlockTablesStmt:
		return KindUnlockTables
	case *ast.AnalyzeTableStmt:
		return KindAnalyzeTable
	case *ast.GrantStmt, *ast.GrantRoleStmt, *ast.GrantProxyStmt:
		return KindGrant
	case *ast.RevokeStmt, *ast.RevokeRoleStmt:
		return KindRevoke
	case *ast.FlushStmt:
		return KindFlush
	case *ast.KillStmt:
		return KindKill
	}
	return KindOther
}

// tableCollector gathers the table names of an AST.
type tableCollector struct {
	names []string
	ctes  []string
	// skip holds names that are not tables of their own: the procedure of
	// SHOW CREATE PROCEDURE, and the targets of a multi-table DELETE, which
	// are aliases or repeat a table of its FROM clause.
	skip []*ast.TableName
}

func (c *tableCollector) Enter(n ast.Node) (ast.Node, bool) {
	switch x := n.(type) {
	case *ast.TableName:
		if x.IsAlias || x.Name.L == "" || slices.Contains(c.skip, x) {
			break
		}
		name := x.Name.L
		if x.Schema.L != "" {
			name = x.Schema.L + "." + name
		}
		// Clone: the parser may build names over buffers it reuses.
		c.names = append(c.names, strings.Clone(name))
	case *ast.CommonTableExpression:
		c.ctes = append(c.ctes, x.Name.L)
	case *ast.ShowStmt:
		if x.Procedure != nil {
			c.skip = append(c.skip, x.Procedure)
		}
	case *ast.DeleteStmt:
		if x.IsMultiTable && x.Tables != nil {
			c.skip = append(c.skip, x.Tables.Tables...)
		}
	}
	return n, false
}

func (c *tableCollector) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func (c *tableCollector) result() []string {
	out := c.names[:0]
	for _, name := range c.names {
		if !slices.Contains(c.ctes, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// describeByKeyword classifies a statement from its first words, read with
// our own tokenizer (so comments, hints and executable comments are handled
// the same way as in fingerprints).
func describeByKeyword(sql string) Info {
	const prefix = 4096
	if len(sql) > prefix {
		sql = sql[:prefix]
	}
	var buf [256]byte
	norm := Normalize(buf[:0], []byte(sql))
	var w [4]string
	i := 0
	for _, f := range strings.Fields(strings.ReplaceAll(string(norm), "(", " ")) {
		if i == len(w) {
			break
		}
		w[i] = f
		i++
	}
	return Info{Kind: kindByKeywords(w), ParseError: true}
}

func kindByKeywords(w [4]string) string {
	next := w[1]
	if next == "temporary" || next == "or" || next == "unique" || next == "fulltext" || next == "spatial" {
		// CREATE TEMPORARY TABLE, CREATE OR REPLACE VIEW, CREATE UNIQUE INDEX
		next = w[2]
		if next == "replace" {
			next = w[3]
		}
	}
	switch w[0] {
	case "select", "with", "table", "values":
		return KindSelect
	case "insert":
		return KindInsert
	case "replace":
		return KindReplace
	case "update":
		return KindUpdate
	case "delete":
		return KindDelete
	case "load":
		if next == "data" {
			return KindLoadData
		}
	case "call":
		return KindCall
	case "do":
		return KindDo
	case "set":
		if next == "password" {
			return KindUser
		}
		return KindSet
	case "show":
		return KindShow
	case "explain", "describe", "desc":
		return KindExplain
	case "use":
		return KindUse
	case "begin":
		return KindBegin
	case "start":
		if next == "transaction" {
			return KindBegin
		}
	case "commit":
		return KindCommit
	case "rollback":
		return KindRollback
	case "savepoint":
		return KindSavepoint
	case "release":
		return KindRelease
	case "prepare":
		return KindPrepare
	case "execute":
		return KindExecute
	case "deallocate":
		return KindDeallocate
	case "truncate":
		return KindTruncateTable
	case "lock":
		return KindLockTables
	case "unlock":
		return KindUnlockTables
	case "analyze":
		return KindAnalyzeTable
	case "grant":
		return KindGrant
	case "revoke":
		return KindRevoke
	case "flush":
		return KindFlush
	case "kill":
		return KindKill
	case "rename":
		switch next {
		case "table":
			return KindRenameTable
		case "user":
			return KindUser
		}
	case "create", "alter", "drop":
		return kindDDL(w[0], next)
	}
	return KindOther
}

func kindDDL(verb, object string) string {
	switch object {
	case "user":
		return KindUser
	case "table":
		switch verb {
		case "create":
			return KindCreateTable
		case "alter":
			return KindAlterTable
		}
		return KindDropTable
	case "database", "schema":
		switch verb {
		case "create":
			return KindCreateDatabase
		case "alter":
			return KindAlterDatabase
		}
		return KindDropDatabase
	case "view":
		if verb == "drop" {
			return KindDropView
		}
		return KindCreateView // ALTER VIEW redefines the view
	case "index":
		switch verb {
		case "create":
			return KindCreateIndex
		case "drop":
			return KindDropIndex
		}
	}
	return KindOther
}
