package fingerprint_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/fingerprint"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/normalize/*.txt and testdata/values.golden")

const separator = "\n----------\n"

// TestNormalizeGolden walks testdata/normalize: each file holds the SQL, a
// line of ten dashes, and the expected normalized text. A new case is just a
// new file.
func TestNormalizeGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "normalize", "*.txt"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 80, "the golden corpus shrank")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			sql, want, ok := bytes.Cut(data, []byte(separator))
			require.True(t, ok, "missing %q separator line", strings.TrimSpace(separator))
			want = bytes.TrimSuffix(want, []byte("\n"))

			got := fingerprint.Normalize(nil, sql)
			if *update {
				out := append(append(append([]byte{}, sql...), separator...), got...)
				require.NoError(t, os.WriteFile(file, append(out, '\n'), 0o644))
				return
			}
			assert.Equal(t, string(want), string(got))
			assert.Equal(t, string(got), string(fingerprint.Normalize(nil, got)), "not idempotent")

			fp := fingerprint.New(fingerprint.DefaultConfig()).FingerprintBytes(sql)
			assert.Equal(t, string(got), fp.Text, "Fingerprint and Normalize disagree")
		})
	}
}

func TestNormalizeAppends(t *testing.T) {
	dst := []byte("prefix:")
	out := fingerprint.Normalize(dst, []byte("SELECT 1"))
	assert.Equal(t, "prefix:select ?", string(out))
	// A leading sign folds into the first literal without touching dst.
	out = fingerprint.Normalize([]byte("x"), []byte("-1"))
	assert.Equal(t, "x?", string(out))
}

func TestNormalizeDeepNesting(t *testing.T) {
	// Beyond the tracked depth groups are written as they are, but the
	// output stays balanced and stable.
	sql := strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100)
	got := fingerprint.Normalize(nil, []byte("select "+sql))
	assert.Equal(t, "select "+strings.Repeat("(", 100)+"?"+strings.Repeat(")", 100), string(got))
	assert.Equal(t, string(got), string(fingerprint.Normalize(nil, got)))

	shallow := "select " + strings.Repeat("(", 20) + "1" + strings.Repeat(")", 20)
	assert.Equal(t, "select "+strings.Repeat("(", 19)+"(...)"+strings.Repeat(")", 19),
		string(fingerprint.Normalize(nil, []byte(shallow))))
}

func TestNormalizeHugeLiteral(t *testing.T) {
	blob := strings.Repeat(`ab\'c''d`, 1<<20) // 8 MiB of string with escapes
	sql := []byte("INSERT INTO blobs (id, data) VALUES (1, '" + blob + "')")
	dst := make([]byte, 0, 256)
	got := fingerprint.Normalize(dst, sql)
	assert.Equal(t, "insert into blobs(id, data) values (...)", string(got))
}
