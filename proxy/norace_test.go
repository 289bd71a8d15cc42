//go:build !race

package proxy_test

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
