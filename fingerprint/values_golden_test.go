package fingerprint_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/fingerprint"
)

// valueCases are statements whose literal runs take unusual turns: lists of
// integers mixed with signs, decimals, ordinals, placeholders, comments and
// words, where a shortcut for runs of literals must change nothing.
var valueCases = []string{
	"select * from t where id in (1,2,3)",
	"select * from t where id in ( 1 , 2 ,3 ,4)",
	"select * from t where id in (1, -2, +3, - 4, 5.5, 6e3, 7)",
	"select * from t where id in (1, 2, 3x, 4abc, 0x1f, 0b10, 0x1g, 5)",
	"select * from t where id in (1,\n\t2,\r\n3 /* c */, 4 -- c\n, 5 # c\n, 6)",
	"select * from t where id in (1, 2, ?, 'a', \"b\", null, true, 3)",
	"select * from t where id in (1, 2, (3), (4, 5), 6)",
	"select * from t where id in (1, 2, a, 3) and b in (4,5)",
	"select * from t where (a, b) in ((1, 2), (3, 4), (5,6))",
	"select * from t where id in (1 2 3)",
	"select * from t where id in (1,,2,)",
	"select * from t where id in (1, 2, 3",
	"select * from t where id in (1, 2, 3.",
	"select * from t where id in (1, 2, 3,",
	"select * from t where id in (1, 2, 3, 12345678901234567890123456789012345678901234567890)",
	"select * from t where id in (" + strings.Repeat("123456789, ", 40) + "0)",
	"select a, 1, 2 from t group by 1, 2, 3 order by 2, 1 desc, 3",
	"select a from t order by (1, 2), 3, 4 + 5, 6",
	"select f(1, 2, 3), g(4,5), count(*) from t",
	"insert into t values (1, 2, 3), (4, 5, 6), (7, 8, 9)",
	"insert into t values (1,2,3),(4,5,6)",
	"select 1, 2, 3; select 4, 5",
	"select /*!50000 1, 2, */ 3",
	"select 1,2,3,4,5,6,7,8,9,10,11,12",
	"select - 1, -2, +-3, --4, - -5",
	"select 'a', 'b''c', 'd\\'e', x'0f', n'x', _utf8mb4'y', _binary 0x1f",
}

// TestValuesGolden pins the digest, Values, Literals and LiteralHashes of
// every statement in the corpora to testdata/values.golden. They are keys
// that outlive a process (stored, compared across versions), so a change of
// the tokenizer that moves any of them must be deliberate; regenerate with
// -update only then.
func TestValuesGolden(t *testing.T) {
	inputs := append([]string{}, fuzzSeeds...)
	inputs = append(inputs, valueCases...)
	for _, q := range oltpMix {
		inputs = append(inputs, q.sql)
	}
	for _, q := range sysbenchPrepared {
		inputs = append(inputs, q.sql)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "normalize", "*.txt"))
	require.NoError(t, err)
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		sql, _, _ := bytes.Cut(data, []byte(separator))
		inputs = append(inputs, string(sql))
	}
	corpus, err := os.ReadFile(filepath.Join("testdata", "differential", "corpus.sql"))
	require.NoError(t, err)
	sc := bufio.NewScanner(bytes.NewReader(corpus))
	for sc.Scan() {
		if line := sc.Text(); strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "## ") {
			inputs = append(inputs, line)
		}
	}

	f := fingerprint.New(fingerprint.DefaultConfig())
	var got bytes.Buffer
	for _, sql := range inputs {
		fp := f.Fingerprint(sql)
		fmt.Fprintf(&got, "%q\n\t%s %016x %d", sql, fp.Digest, fp.Values, fp.Literals)
		for _, h := range fp.LiteralHashes[:min(fp.Literals, fingerprint.MaxLiteralHashes)] {
			fmt.Fprintf(&got, " %016x", h)
		}
		got.WriteByte('\n')
	}

	file := filepath.Join("testdata", "values.golden")
	if *update {
		require.NoError(t, os.WriteFile(file, got.Bytes(), 0o644))
		return
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err)
	wantLines, gotLines := strings.Split(string(want), "\n"), strings.Split(got.String(), "\n")
	require.Equal(t, len(wantLines), len(gotLines), "the corpus changed: regenerate with -update")
	for i := range wantLines {
		if wantLines[i] != gotLines[i] {
			t.Errorf("line %d:\n want %s\n  got %s\n  (%s)", i+1, wantLines[i], gotLines[i], gotLines[i&^1])
		}
	}
}
