package stats_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/stats"
)

func restoreWorkload(n int, offset time.Duration) []*protocol.Event {
	var evs []*protocol.Event
	for i := range n {
		at := offset + time.Duration(i)*time.Millisecond
		evs = append(evs, query("SELECT name FROM users WHERE id = 1", "shop", at, time.Duration(1+i%7)*time.Millisecond))
		e := query("INSERT INTO t VALUES (1)", "shop", at, 2*time.Millisecond)
		if i%3 == 0 {
			e.ErrorCode = 1062
		}
		evs = append(evs, e)
		evs = append(evs, &protocol.Event{Command: protocol.ComPing})
	}
	return evs
}

// comparable strips what legitimately differs between two engines.
func comparable(t *testing.T, s *stats.Snapshot) string {
	t.Helper()
	c := *s
	c.Seq, c.Taken = 0, time.Time{}
	b, err := json.Marshal(&c)
	require.NoError(t, err)
	return string(b)
}

// TestRestoreKeepsEveryCount: snapshot → JSON → Restore into a new engine,
// which then sees more traffic, ends equal to one engine that saw it all.
func TestRestoreKeepsEveryCount(t *testing.T) {
	first, second := restoreWorkload(50, 0), restoreWorkload(30, time.Minute)

	a := startEngine(t, stats.Config{})
	for _, ev := range first {
		a.Observe(ev)
	}
	saved, err := json.Marshal(flush(t, a))
	require.NoError(t, err)

	var loaded stats.Snapshot
	require.NoError(t, json.Unmarshal(saved, &loaded))
	b := newEngine(t, stats.Config{})
	require.NoError(t, b.Restore(&loaded))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	assert.Equal(t, comparable(t, &loaded), comparable(t, flush(t, b)), "restored as saved")
	for _, ev := range second {
		b.Observe(ev)
	}

	all := startEngine(t, stats.Config{})
	for _, ev := range append(first, second...) {
		all.Observe(ev)
	}
	// Units of work still open when the state was saved are not part of
	// it: the findings of the engine that saw everything in one go may
	// differ; every count must not.
	withoutFindings := func(s *stats.Snapshot) *stats.Snapshot {
		c := *s
		c.Findings, c.FindingsCreated, c.FindingUnits = nil, nil, nil
		c.Digests = nil
		for _, d := range s.Digests {
			dc := *d
			dc.Units = 0
			c.Digests = append(c.Digests, &dc)
		}
		return &c
	}
	assert.Equal(t, comparable(t, withoutFindings(flush(t, all))), comparable(t, withoutFindings(flush(t, b))))
	assert.Error(t, b.Restore(&loaded), "not after Run")
}

func TestRestoreRejectsOtherVersions(t *testing.T) {
	e := newEngine(t, stats.Config{})
	assert.Error(t, e.Restore(&stats.Snapshot{Version: stats.SnapshotVersion + 1}))
}
