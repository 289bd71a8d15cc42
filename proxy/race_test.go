//go:build race

package proxy_test

// raceEnabled reports whether the race detector is on: sync.Pool then
// drops a quarter of what is put back, so pooled objects get allocated.
const raceEnabled = true
