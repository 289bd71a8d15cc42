package fingerprint_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

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

// TestFingerprintAllocs: one allocation for Text in steady state; tags add
// their own only when present.
func TestFingerprintAllocs(t *testing.T) {
	f := fingerprint.New(fingerprint.DefaultConfig())
	for _, q := range oltpMix {
		allocs := testing.AllocsPerRun(100, func() {
			f.Fingerprint(q.sql)
		})
		assert.Equal(t, 1.0, allocs, q.name)
	}
	allocs := testing.AllocsPerRun(100, func() { f.Fingerprint("/* only a comment */") })
	assert.Zero(t, allocs)

	// Two tags: the text, the tags slice (it grows 1 -> 2), four strings.
	allocs = testing.AllocsPerRun(100, func() { f.Fingerprint("select 1 /*a='1',b='2'*/") })
	assert.LessOrEqual(t, allocs, 7.0)
}
