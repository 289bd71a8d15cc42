package fingerprint

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestKeywordTable checks that the perfect hash gives every keyword its own
// slot and that classify finds each of them in any case.
func TestKeywordTable(t *testing.T) {
	seen := map[uint8]string{}
	for _, e := range keywords {
		h := keywordHash([]byte(e.word))
		if other, ok := seen[h]; ok {
			t.Fatalf("keywordHash collision: %q and %q -> %d; change the hash", other, e.word, h)
		}
		seen[h] = e.word
		for _, w := range []string{e.word, strings.ToUpper(e.word), strings.ToUpper(e.word[:1]) + e.word[1:]} {
			for _, b := range classifyInputs(w) {
				k, id := classify(b)
				assert.Equal(t, e.kind, k, w)
				assert.Equal(t, e.id, id, w)
			}
		}
	}
	for _, w := range []string{"users", "id", "customer_id", "valuez", "selec", "ordr", "x", "", "élan", "_foo", "nul", "selects", "ORDERS", "nulL_"} {
		for _, b := range classifyInputs(w) {
			k, id := classify(b)
			assert.Equal(t, wordPlain, k, w)
			assert.Equal(t, kwNone, id, w)
		}
	}
	for _, w := range []string{"_utf8mb4", "_BINARY", "_latin1"} {
		k, _ := classify([]byte(w))
		assert.Equal(t, wordCharset, k, w)
	}
}

func TestLower8(t *testing.T) {
	for i := 0; i < 256; i++ {
		for _, pos := range []int{0, 3, 7} {
			var b [8]byte
			copy(b[:], "aZ@[`{\x80\xff")
			b[pos] = byte(i)
			for l := 0; l <= len(b); l++ {
				// b[:l] has eight readable bytes: the folded-at-once path;
				// a copy of just l bytes takes the byte-wise one.
				for _, w := range [][]byte{b[:l], append([]byte(nil), b[:l]...)} {
					n := normalizer{dst: []byte("x")}
					n.appendLower(w)
					got := n.dst[1:]
					assert.Len(t, got, l)
					for j := range got {
						assert.Equal(t, lower[b[j]], got[j], "byte %#x at %d of %d", b[j], j, l)
					}
				}
			}
		}
	}
}

// classifyInputs returns w as classify sees it near the end of the input
// (nothing readable past the word: the byte-wise path) and in the middle
// (identifier bytes follow: the eight-bytes-at-once path).
func classifyInputs(w string) [][]byte {
	end := []byte(w)
	mid := []byte(w + "_x9ZZZZZZZZ")[:len(w)]
	return [][]byte{end[:len(w):len(w)], mid}
}
