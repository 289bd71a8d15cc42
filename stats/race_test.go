//go:build race

package stats_test

// raceEnabled reports whether the race detector is on; the heaviest tests
// scale down under it (it slows the fingerprinter about fivefold).
const raceEnabled = true
