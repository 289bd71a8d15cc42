//go:build !race

package stats_test

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
