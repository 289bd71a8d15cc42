package fingerprint_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/fingerprint"
)

// tidbNormalize is the oracle. Recent parser versions take a redact
// argument: "ON" replaces literals, while "" would return the SQL unchanged.
func tidbNormalize(sql string) string { return parser.Normalize(sql, "ON") }

func ourNormalize(sql string) string { return string(fingerprint.Normalize(nil, []byte(sql))) }

// TestDifferentialTiDB checks the corpus: statements that TiDB's Normalize
// groups together must be grouped together here too. (The converse does not
// hold: IN lists of any length, VALUES of any row count, signs after any
// operator and more are grouped here but not by TiDB.)
func TestDifferentialTiDB(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "differential", "corpus.sql"))
	require.NoError(t, err)
	defer f.Close()

	groups := map[string][]string{} // TiDB text -> statements
	var order []string
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "## ") {
			continue
		}
		n++
		key := tidbNormalize(line)
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], line)
	}
	require.NoError(t, sc.Err())
	require.Greater(t, n, 200, "corpus too small")

	ours := map[string]bool{}
	for _, key := range order {
		stmts := groups[key]
		want := ourNormalize(stmts[0])
		ours[want] = true
		for _, s := range stmts[1:] {
			got := ourNormalize(s)
			ours[got] = true
			assert.Equal(t, want, got, "TiDB groups these as %q:\n  %s\n  %s", key, stmts[0], s)
		}
	}
	t.Logf("%d statements: TiDB makes %d groups, we make %d", n, len(groups), len(ours))

	// Mutated variants of every statement: other digits, other case, other
	// blanks. Whenever TiDB still groups a variant with its original, so
	// must we.
	checked := 0
	for _, key := range order {
		for _, s := range groups[key] {
			for _, v := range variants(s) {
				if tidbNormalize(v) != key {
					continue
				}
				checked++
				assert.Equal(t, ourNormalize(s), ourNormalize(v), "TiDB groups these as %q:\n  %s\n  %s", key, s, v)
			}
		}
	}
	t.Logf("%d variants grouped by TiDB checked", checked)
}

func variants(s string) []string {
	digits := []byte(s)
	for i, c := range digits {
		if c >= '0' && c <= '9' {
			digits[i] = '0' + (c-'0'+3)%10
		}
	}
	return []string{
		string(digits),
		strings.ToUpper(s),
		strings.ToLower(s),
		strings.ReplaceAll(s, " ", " \n\t "),
		strings.ReplaceAll(s, " = ", "="),
		s + " ;",
		"/* leading */ " + s,
	}
}

// TestDifferentialDocumented checks testdata/differential/differences.txt:
// each pair is grouped by TiDB and deliberately kept apart here.
func TestDifferentialDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "differential", "differences.txt"))
	require.NoError(t, err)
	blocks := strings.Split(strings.TrimSpace(string(data)), "\n\n")
	count := 0
	for _, block := range blocks[1:] { // the first block is the file's header
		lines := strings.Split(strings.TrimSpace(block), "\n")
		require.Len(t, lines, 3, "want a reason line and two statements:\n%s", block)
		reason, a, b := lines[0], lines[1], lines[2]
		require.True(t, strings.HasPrefix(reason, "# "), block)
		t.Run(strings.TrimPrefix(reason, "# "), func(t *testing.T) {
			assert.Equal(t, tidbNormalize(a), tidbNormalize(b), "TiDB no longer groups these")
			assert.NotEqual(t, ourNormalize(a), ourNormalize(b), "we now group these")
		})
		count++
	}
	assert.GreaterOrEqual(t, count, 5)
}
