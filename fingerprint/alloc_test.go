package fingerprint_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/fingerprint"
)

// TestNormalizeZeroAlloc guards the hot-path budget: Normalize allocates
// nothing when dst has room.
func TestNormalizeZeroAlloc(t *testing.T) {
	inputs := append([]string{}, fuzzSeeds...)
	for _, q := range oltpMix {
		inputs = append(inputs, q.sql)
	}
	for _, sql := range inputs {
		src := []byte(sql)
		dst := make([]byte, 0, 2*len(src)+16)
		allocs := testing.AllocsPerRun(100, func() {
			dst = fingerprint.Normalize(dst[:0], src)
		})
		assert.Zero(t, allocs, "%q", sql)
	}
}

// TestFingerprintAllocs: no allocation for a statement whose text the
// Fingerprinter made recently, one (Text) for a new one; tags add their
// own only when present.
func TestFingerprintAllocs(t *testing.T) {
	f := fingerprint.New(fingerprint.DefaultConfig())
	for _, q := range oltpMix {
		allocs := testing.AllocsPerRun(100, func() {
			f.Fingerprint(q.sql)
		})
		assert.Zero(t, allocs, q.name)
	}
	huge := "INSERT INTO blobs (id, body) VALUES (1, '" + strings.Repeat("x", 16<<20) + "')"
	allocs := testing.AllocsPerRun(10, func() { f.Fingerprint(huge) })
	assert.Zero(t, allocs, "16 MiB literal")

	// Statements never seen before: one allocation each, for Text.
	fresh := make([]string, 101) // AllocsPerRun's warm-up and 100 runs
	for i := range fresh {
		fresh[i] = fmt.Sprintf("SELECT c FROM t%d WHERE id = 1", i)
	}
	next := 0
	allocs = testing.AllocsPerRun(100, func() {
		f.Fingerprint(fresh[next])
		next++
	})
	assert.Equal(t, 1.0, allocs, "new statements")

	allocs = testing.AllocsPerRun(100, func() { f.Fingerprint("/* only a comment */") })
	assert.Zero(t, allocs)

	// Two tags: the tags slice (it grows 1 -> 2), four strings.
	allocs = testing.AllocsPerRun(100, func() { f.Fingerprint("select 1 /*a='1',b='2'*/") })
	assert.LessOrEqual(t, allocs, 6.0)
}

// TestFingerprintTextReuse: a reused Text is the statement's own, also when
// two statements share a slot of the cache or a digest's text was cut.
func TestFingerprintTextReuse(t *testing.T) {
	f := fingerprint.New(fingerprint.Config{MaxText: 24})
	want := map[string]string{}
	var sqls []string
	for i := range 300 {
		sql := fmt.Sprintf("SELECT a, b FROM table_%d WHERE id IN (%d)", i%150, i)
		sqls = append(sqls, sql)
		want[sql] = fingerprint.New(fingerprint.Config{MaxText: 24}).Fingerprint(sql).Text
	}
	for range 3 {
		for _, sql := range sqls {
			fp := f.Fingerprint(sql)
			require.Equal(t, want[sql], fp.Text, sql)
			require.True(t, fp.Truncated, sql)
		}
	}
}
