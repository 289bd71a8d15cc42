//go:build linux

package proxy

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestCanHoldP: loops keep their Ps while they wait only as long as
// GOMAXPROCS leaves one to the rest of the program, so that lowering it
// (testing.AllocsPerRun sets 1) cannot leave every goroutine behind a loop
// blocked in epoll_wait.
func TestCanHoldP(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(before)
	addProcs(2)
	assert.Equal(t, before+2, runtime.GOMAXPROCS(0))
	assert.True(t, canHoldP(), "two loops, two Ps added")
	runtime.GOMAXPROCS(2)
	assert.False(t, canHoldP(), "two loops, GOMAXPROCS lowered to 2")
	runtime.GOMAXPROCS(3)
	assert.True(t, canHoldP(), "two loops and one P for the rest")
	addProcs(-2)
	assert.Equal(t, 1, runtime.GOMAXPROCS(0))
	assert.True(t, canHoldP(), "no loop")
}
