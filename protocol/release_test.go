package protocol_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/protocol"
)

// TestReleasedEventsStartClean: a handler that gives every event back with
// Release, as the daemon's statistics engine does, sees each command with
// nothing left over from the events released before it (an error, rows,
// SQL, parameters), whether or not the pool handed the same Event out again.
func TestReleasedEventsStartClean(t *testing.T) {
	var got []protocol.Event
	f := &feeder{t: t, now: base}
	f.s = protocol.NewSession(protocol.SessionConfig{Handler: func(ev *protocol.Event) {
		got = append(got, *ev)
		ev.Release()
	}})
	f.loginMariaDB()
	for range 3 {
		f.client(packet(0, query("SELECT a FROM t")))
		f.server(packet(1, []byte{1}), packet(2, colDef("a")), packet(3, []byte{1, '1'}), packet(4, []byte{1, '2'}),
			packet(5, okPayload(0xFE, 0, 0, protocol.StatusAutocommit, 1)))
		f.client(packet(0, query("BAD")))
		f.server(packet(1, errPayload(1064, "42000", "syntax")))
		f.client(packet(0, []byte{byte(protocol.ComPing)}))
		f.server(packet(1, okPayload(0, 0, 0, protocol.StatusAutocommit, 0)))
	}
	require.Len(t, got, 1+9) // the login, then three rounds
	for i, ev := range got[1:] {
		switch i % 3 {
		case 0:
			assert.Equal(t, "SELECT a FROM t", ev.SQL)
			assert.Equal(t, uint64(2), ev.RowsSent)
			assert.Equal(t, uint64(1), ev.Warnings)
			assert.Zero(t, ev.ErrorCode)
			assert.Empty(t, ev.ErrorMessage)
		case 1:
			assert.Equal(t, "BAD", ev.SQL)
			assert.Equal(t, uint16(1064), ev.ErrorCode)
			assert.Zero(t, ev.RowsSent)
			assert.Zero(t, ev.Warnings)
		case 2:
			assert.Equal(t, protocol.ComPing, ev.Command)
			assert.Empty(t, ev.SQL)
			assert.Zero(t, ev.ErrorCode)
			assert.Zero(t, ev.RowsSent)
			assert.Zero(t, ev.Results-1)
		}
		assert.Equal(t, "app", ev.User)
		assert.Equal(t, "shop", ev.Schema)
		assert.False(t, ev.Sent.IsZero())
	}
}

// TestReleaseZeroes: a released event is zeroed at once, so a handler that
// released one too early reads zeroes, not another command's values.
func TestReleaseZeroes(t *testing.T) {
	ev := &protocol.Event{Command: protocol.ComQuery, SQL: "SELECT 1", RowsSent: 3,
		Params: []protocol.Param{{Value: int64(1)}}}
	params := ev.Params
	ev.Release()
	assert.Equal(t, protocol.Event{}, *ev)
	assert.Equal(t, int64(1), params[0].Value, "what the event held stays valid")
}

// TestReleasedEventsAreReused: a handler that gives its events back, one
// at a time or in batches, makes a session's commands cost the SQL copy
// alone; one that keeps them costs an Event each.
func TestReleasedEventsAreReused(t *testing.T) {
	q := packet(0, query("UPDATE t SET a = 1"))
	ok := packet(1, okPayload(0, 1, 0, protocol.StatusAutocommit, 0))
	var batch []*protocol.Event
	handlers := map[string]struct {
		handle func(*protocol.Event)
		allocs float64
	}{
		"release":     {func(ev *protocol.Event) { ev.Release() }, 1},
		"release-all": {func(ev *protocol.Event) { batch = append(batch, ev) }, 1},
		"keep":        {func(*protocol.Event) {}, 2},
	}
	for name, h := range handlers {
		t.Run(name, func(t *testing.T) {
			batch = make([]*protocol.Event, 0, 8)
			f := &feeder{t: t, now: base}
			f.s = protocol.NewSession(protocol.SessionConfig{Handler: h.handle})
			f.loginMariaDB()
			command := func() {
				f.s.Feed(protocol.FromClient, q, base)
				f.s.Feed(protocol.FromServer, ok, base)
				if len(batch) == cap(batch) {
					protocol.ReleaseAll(batch)
					batch = batch[:0]
				}
			}
			// More commands than the free list holds, so that what other
			// tests released is used up when the handler keeps events.
			for range 2100 {
				command()
			}
			assert.Equal(t, h.allocs, testing.AllocsPerRun(200, command))
			if name == "release-all" {
				command()
				spent := slices.Clone(batch)
				require.NotEmpty(t, spent)
				protocol.ReleaseAll(spent)
				for _, ev := range spent {
					require.Equal(t, protocol.Event{}, *ev, "a released event is zeroed")
				}
			}
		})
	}
}
