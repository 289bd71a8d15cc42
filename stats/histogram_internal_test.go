package stats

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestBucketKeyBoundaries checks that bucket k holds (2^((k-1)/8), 2^(k/8)]
// seconds, as a Prometheus native histogram of schema 3 does.
func TestBucketKeyBoundaries(t *testing.T) {
	for k := minKey + 1; k < maxKey; k++ {
		hi := BucketUpperBound(k)
		d := time.Duration(math.Floor(hi * 1e9)) // at or just below the bound
		assert.Equal(t, k, bucketKey(d), "upper bound of %d: %v", k, d)
		above := time.Duration(math.Floor(hi*1e9)) + 1
		if float64(above)/1e9 > hi {
			assert.Equal(t, k+1, bucketKey(above), "just above bucket %d: %v", k, above)
		}
		lo := BucketUpperBound(k - 1)
		mid := time.Duration(math.Sqrt(lo*hi) * 1e9)
		assert.Equal(t, k, bucketKey(mid), "middle of bucket %d", k)
	}
	assert.Equal(t, minKey, bucketKey(0))
	assert.Equal(t, minKey, bucketKey(time.Nanosecond))
	assert.Equal(t, maxKey, bucketKey(time.Hour))
	assert.Equal(t, 214, maxKey-minKey+1)
	assert.Less(t, BucketUpperBound(minKey-1), 1e-6, "first bucket starts below 1µs")
	assert.Greater(t, BucketUpperBound(maxKey), 100.0, "last bucket ends above 100s")
}

// TestBucketValueRelativeError checks the estimate's bound at both ends of
// a bucket.
func TestBucketValueRelativeError(t *testing.T) {
	g := math.Exp2(1.0 / bucketsPerOctave)
	assert.InDelta(t, (g-1)/(g+1), RelativeError, 1e-15)
	for _, k := range []int{minKey, -80, 0, 40, maxKey} {
		lo, hi, v := BucketUpperBound(k-1), BucketUpperBound(k), bucketValue(k)
		assert.InDelta(t, RelativeError, (v-lo)/lo, 1e-12)
		assert.InDelta(t, RelativeError, (hi-v)/hi, 1e-12)
	}
}

func TestCutUTF8(t *testing.T) {
	assert.Equal(t, "héllo", cutUTF8("héllo", 10))
	assert.Equal(t, "h", cutUTF8("héllo", 2), "é is two bytes: cut before it")
	assert.Equal(t, "hé", cutUTF8("héllo", 3))
	assert.Equal(t, "\xff\xfe", cutUTF8("\xff\xfe\xfd\xfc", 2), "not UTF-8: cut at n")
}
