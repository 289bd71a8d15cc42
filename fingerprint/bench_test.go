package fingerprint_test

import (
	"testing"

	"github.com/pingcap/tidb/pkg/parser"

	"github.com/querylens/querylens/fingerprint"
)

// oltpMix is a realistic OLTP statement mix, as an ORM sends it.
var oltpMix = []struct{ name, sql string }{
	{"point_select", "SELECT id, name, email FROM users WHERE id = 12345"},
	{"range", "SELECT * FROM orders WHERE customer_id = 42 AND created_at >= '2024-01-01' ORDER BY created_at DESC LIMIT 50"},
	{"insert_multi_row", "INSERT INTO events (user_id, kind, payload, created_at) VALUES (1, 'click', '{\"x\":1}', NOW()), (2, 'view', '{\"y\":2}', NOW()), (3, 'click', '{}', NOW())"},
	{"update", "UPDATE accounts SET balance = balance - 100.25, updated_at = NOW() WHERE id = 7 AND version = 3"},
	{"in_list", "SELECT id, status FROM jobs WHERE id IN (101, 102, 103, 104, 105, 106, 107, 108) AND status <> 'done'"},
	{"join", "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.status = 'paid' AND c.country = 'DE'"},
}

func BenchmarkNormalize(b *testing.B) {
	for _, q := range oltpMix {
		b.Run(q.name, func(b *testing.B) {
			sql := []byte(q.sql)
			dst := make([]byte, 0, 4*len(sql))
			b.SetBytes(int64(len(sql)))
			b.ReportAllocs()
			for b.Loop() {
				dst = fingerprint.Normalize(dst[:0], sql)
			}
		})
	}
}

func BenchmarkFingerprint(b *testing.B) {
	for _, q := range oltpMix {
		b.Run(q.name, func(b *testing.B) {
			f := fingerprint.New(fingerprint.DefaultConfig())
			b.SetBytes(int64(len(q.sql)))
			b.ReportAllocs()
			for b.Loop() {
				f.Fingerprint(q.sql)
			}
		})
	}
	b.Run("sqlcommenter", func(b *testing.B) {
		sql := oltpMix[0].sql + " /*controller='users',action='show',traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/"
		f := fingerprint.New(fingerprint.DefaultConfig())
		b.SetBytes(int64(len(sql)))
		b.ReportAllocs()
		for b.Loop() {
			f.Fingerprint(sql)
		}
	})
}

// BenchmarkTiDBNormalize is the reference: the TiDB parser's own
// normalizer on the same mix.
func BenchmarkTiDBNormalize(b *testing.B) {
	for _, q := range oltpMix {
		b.Run(q.name, func(b *testing.B) {
			b.SetBytes(int64(len(q.sql)))
			b.ReportAllocs()
			for b.Loop() {
				parser.Normalize(q.sql, "ON")
			}
		})
	}
}

func BenchmarkDescribe(b *testing.B) {
	for _, q := range oltpMix {
		b.Run(q.name, func(b *testing.B) {
			b.SetBytes(int64(len(q.sql)))
			b.ReportAllocs()
			for b.Loop() {
				fingerprint.Describe(q.sql)
			}
		})
	}
}
