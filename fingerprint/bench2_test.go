package fingerprint_test

import (
	"bytes"
	"testing"

	"github.com/querylens/querylens/fingerprint"
)

// sysbenchPrepared are the statement texts sysbench prepares
// (--db-ps-mode=auto): what the statistics engine fingerprints for every
// execution of a prepared statement, since it receives the statement's text
// with each execute event.
var sysbenchPrepared = []struct{ name, sql string }{
	{"point_select", "SELECT c FROM sbtest1 WHERE id=?"},
	{"range_sum", "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN ? AND ?"},
	{"index_update", "UPDATE sbtest1 SET k=k+1 WHERE id=?"},
	{"insert", "INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)"},
}

func BenchmarkFingerprintPrepared(b *testing.B) {
	for _, q := range sysbenchPrepared {
		b.Run(q.name, func(b *testing.B) {
			f := fingerprint.New(fingerprint.DefaultConfig())
			b.SetBytes(int64(len(q.sql)))
			b.ReportAllocs()
			for b.Loop() {
				f.Fingerprint(q.sql)
			}
		})
	}
}

// BenchmarkFingerprintHugeLiteral fingerprints an INSERT whose string
// literal is 16 MiB long. The Fingerprinter reads at most MaxInput bytes
// of it (1 MiB by default), and its Text is the statement up to the
// literal, so the cost is bounded by MaxInput, not by the statement.
func BenchmarkFingerprintHugeLiteral(b *testing.B) {
	sql := "INSERT INTO blobs (id, body) VALUES (1, '" + string(bytes.Repeat([]byte{'x'}, 16<<20)) + "')"
	f := fingerprint.New(fingerprint.DefaultConfig())
	f.Fingerprint(sql) // let the reused buffer grow
	b.ReportAllocs()
	for b.Loop() {
		f.Fingerprint(sql)
	}
}
