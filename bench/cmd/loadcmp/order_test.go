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
