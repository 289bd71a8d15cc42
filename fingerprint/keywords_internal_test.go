package fingerprint

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
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

func TestIdentLen8(t *testing.T) {
	scan := func(b []byte) int { return scanIdent(b, 0) }
	for c := range 256 {
		for pos := range 8 {
			for _, fill := range []byte{'a', 'Z', '_', '$', '7', 0x80, 0xff} {
				b := bytes.Repeat([]byte{fill}, 8)
				b[pos] = byte(c)
				if got, want := identLen8(binary.LittleEndian.Uint64(b)), scan(b); got != want {
					t.Fatalf("identLen8(%q) = %d, want %d", b, got, want)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		var b [8]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := identLen8(binary.LittleEndian.Uint64(b[:])), scan(b[:]); got != want {
			t.Fatalf("identLen8(%q) = %d, want %d", b, got, want)
		}
	}
}
