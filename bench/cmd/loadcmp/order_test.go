package main

import (
	"slices"
	"testing"
)

// TestOrderRotates: every round runs every path once, and over n rounds
// each path takes each place once.
func TestOrderRotates(t *testing.T) {
	const n = 3
	seen := make([][n]int, n) // seen[path][place]
	for round := range n {
		o := order(n, round)
		if s := slices.Sorted(slices.Values(o)); !slices.Equal(s, []int{0, 1, 2}) {
			t.Fatalf("round %d runs %v, not each path once", round, o)
		}
		for place, path := range o {
			seen[path][place]++
		}
	}
	for path, places := range seen {
		if places != [n]int{1, 1, 1} {
			t.Errorf("path %d took places %v over %d rounds", path, places, n)
		}
	}
	if o := order(n, 0); !slices.Equal(o, []int{0, 1, 2}) {
		t.Errorf("the first round runs %v, want direct, HAProxy, querylens", o)
	}
}

// TestPairedRatio: the per-round ratio pairs each round's runs, where the
// ratio of medians can pair a fast round of one path with a slow round of
// the other (the numbers of a real case, point select disable at 8
// threads, 2026-12-07 03:12).
func TestPairedRatio(t *testing.T) {
	querylens := []float64{13042, 12932, 13504, 16599, 17159}
	haproxy := []float64{13252, 12628, 15907, 16192, 16044}
	if got := median(querylens) / median(haproxy); got > 0.85 || got < 0.84 {
		t.Errorf("ratio of medians %.3f, want 0.849", got)
	}
	if got := pairedRatio(querylens, haproxy); got < 1.024 || got > 1.025 {
		t.Errorf("per-round ratio %.4f, want 1.0241 (12932/12628)", got)
	}
	if got := pairedRatio([]float64{1, 2}, []float64{0, 4}); got != 0.5 {
		t.Errorf("a round without HAProxy QPS counted: %v", got)
	}
	if got := pairedRatio(nil, nil); got != 0 {
		t.Errorf("no rounds: %v", got)
	}
}
