package fingerprint_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/querylens/querylens/fingerprint"
)

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want fingerprint.Info
	}{
		{"SELECT * FROM users WHERE id = 1", fingerprint.Info{Kind: "select", Tables: []string{"users"}}},
		{"select o.id from Shop.Orders o join customers c on c.id = o.cid join shop.orders o2 on o2.id = o.id",
			fingerprint.Info{Kind: "select", Tables: []string{"customers", "shop.orders"}}},
		{"select 1", fingerprint.Info{Kind: "select"}},
		{"select 1 from dual", fingerprint.Info{Kind: "select"}},
		{"select a from t union select b from u", fingerprint.Info{Kind: "select", Tables: []string{"t", "u"}}},
		{"with c as (select id from t) select * from c join u on u.id = c.id",
			fingerprint.Info{Kind: "select", Tables: []string{"t", "u"}}},
		{"select * from t where id in (select tid from u)", fingerprint.Info{Kind: "select", Tables: []string{"t", "u"}}},
		{"insert into t (a) values (1), (2)", fingerprint.Info{Kind: "insert", Tables: []string{"t"}}},
		{"insert into t select * from u", fingerprint.Info{Kind: "insert", Tables: []string{"t", "u"}}},
		{"replace into t values (1)", fingerprint.Info{Kind: "replace", Tables: []string{"t"}}},
		{"update t set a = 1 where id = 2", fingerprint.Info{Kind: "update", Tables: []string{"t"}}},
		{"update t join u on t.id = u.id set t.a = u.a", fingerprint.Info{Kind: "update", Tables: []string{"t", "u"}}},
		{"delete from t where id = 1", fingerprint.Info{Kind: "delete", Tables: []string{"t"}}},
		{"delete tt1 from t1 tt1 join t2 on tt1.id = t2.id", fingerprint.Info{Kind: "delete", Tables: []string{"t1", "t2"}}},
		{"set @a = 1", fingerprint.Info{Kind: "set"}},
		{"SET NAMES utf8mb4", fingerprint.Info{Kind: "set"}},
		{"set session transaction isolation level read committed", fingerprint.Info{Kind: "set"}},
		{"show tables", fingerprint.Info{Kind: "show"}},
		{"show create table db.t", fingerprint.Info{Kind: "show", Tables: []string{"db.t"}}},
		{"begin", fingerprint.Info{Kind: "begin"}},
		{"START TRANSACTION", fingerprint.Info{Kind: "begin"}},
		{"commit", fingerprint.Info{Kind: "commit"}},
		{"rollback", fingerprint.Info{Kind: "rollback"}},
		{"savepoint s1", fingerprint.Info{Kind: "savepoint"}},
		{"release savepoint s1", fingerprint.Info{Kind: "release_savepoint"}},
		{"use shop", fingerprint.Info{Kind: "use"}},
		{"create table t (id int primary key)", fingerprint.Info{Kind: "create_table", Tables: []string{"t"}}},
		{"alter table t add column b int", fingerprint.Info{Kind: "alter_table", Tables: []string{"t"}}},
		{"drop table if exists t, db.u", fingerprint.Info{Kind: "drop_table", Tables: []string{"db.u", "t"}}},
		{"drop view v", fingerprint.Info{Kind: "drop_view", Tables: []string{"v"}}},
		{"truncate table t", fingerprint.Info{Kind: "truncate_table", Tables: []string{"t"}}},
		{"create index i on t (a)", fingerprint.Info{Kind: "create_index", Tables: []string{"t"}}},
		{"call p(1, 2)", fingerprint.Info{Kind: "call"}},
		{"load data infile '/tmp/x' into table t", fingerprint.Info{Kind: "load_data", Tables: []string{"t"}}},
		{"explain select * from t", fingerprint.Info{Kind: "explain", Tables: []string{"t"}}},
		{"lock tables t read", fingerprint.Info{Kind: "lock_tables", Tables: []string{"t"}}},
		{"unlock tables", fingerprint.Info{Kind: "unlock_tables"}},
		{"prepare s from 'select 1'", fingerprint.Info{Kind: "prepare"}},
		{"create user 'bob'@'%' identified by 'secret'", fingerprint.Info{Kind: "user"}},
		{"grant select on db.* to 'bob'@'%'", fingerprint.Info{Kind: "grant"}},
		{"select 1; update t set a = 2", fingerprint.Info{Kind: "select", Tables: []string{"t"}}},
		{"/* leading comment */ SELECT /*+ MAX_EXECUTION_TIME(1) */ a FROM t", fingerprint.Info{Kind: "select", Tables: []string{"t"}}},
		{"", fingerprint.Info{Kind: "other"}},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			assert.Equal(t, tc.want, fingerprint.Describe(tc.sql))
		})
	}
}

// TestDescribeFallback covers statements the TiDB parser rejects: Kind comes
// from the first keywords and ParseError is set.
func TestDescribeFallback(t *testing.T) {
	for sql, kind := range map[string]string{
		"select * from where":                       "select",
		"INSERT INTO t VALUES (1":                   "insert",
		"update t set":                              "update",
		"/*!40101 DELETE */ from":                   "delete",
		"  (select 1":                               "select",
		"create temporary table":                    "create_table",
		"create or replace view v as select":        "create_view",
		"drop table":                                "drop_table",
		"load data":                                 "load_data",
		"start transaction with bogus snapshot":     "begin",
		"xa start 'x'":                              "other",
		"garbage":                                   "other",
		"select 'unterminated":                      "select",
		"SHOW ENGINE INNODB STATUS with extra junk": "show",
	} {
		t.Run(sql, func(t *testing.T) {
			info := fingerprint.Describe(sql)
			assert.Equal(t, fingerprint.Info{Kind: kind, ParseError: true}, info)
		})
	}
}

func TestDescribeHugeInput(t *testing.T) {
	sql := "INSERT INTO blobs VALUES ('" + strings.Repeat("x", 2<<20) + "')"
	info := fingerprint.Describe(sql)
	assert.Equal(t, fingerprint.Info{Kind: "insert", ParseError: true}, info)
}

// TestDescribeConcurrent runs Describe from several goroutines; with -race
// it checks that pooled parsers are never shared.
func TestDescribeConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				q := oltpMix[(g+i)%len(oltpMix)]
				info := fingerprint.Describe(q.sql)
				if info.ParseError || len(info.Tables) == 0 {
					t.Errorf("%s: %+v", q.name, info)
					return
				}
			}
		})
	}
	wg.Wait()
}
