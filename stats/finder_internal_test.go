package stats

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/querylens/querylens/protocol"
)

// TestClosedUnitsAreReusedEmpty: a transaction that ends leaves its unit
// and its statements on the finder's free lists with nothing of theirs
// left (no statement, row, tag, example or pointer), only the room their
// map and lists grew; the next transaction takes them from there.
func TestClosedUnitsAreReusedEmpty(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LogLiterals = true
	w := newWriter(cfg, zap.NewNop())
	at := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	run := func(sql string, rows uint64, status uint16) {
		at = at.Add(100 * time.Microsecond)
		w.apply(&protocol.Event{Command: protocol.ComQuery, SQL: sql, SQLLength: len(sql),
			User: "app", Schema: "shop", ClientAddr: "10.0.0.1:5000", ConnID: 1,
			Sent: at, Start: at, FirstResponse: at.Add(20 * time.Microsecond), End: at.Add(40 * time.Microsecond),
			RowsSent: rows, Results: 1, Status: status})
	}
	tx := func() {
		run("BEGIN /*app='shop'*/", 0, 0x0003)
		run("SELECT id FROM items ORDER BY id LIMIT 20", 20, 0x0003)
		for i := range 20 {
			run("SELECT * FROM feeds WHERE item_id = "+strconv.Itoa(i+1), 2, 0x0003)
		}
		run("UPDATE items SET seen = 1 WHERE id = 7", 0, 0x0003)
		run("COMMIT", 0, 0x0002)
	}
	f := w.find

	tx()
	require.Len(t, f.freeUnits, 1, "the transaction's unit is free once it ended")
	u := f.freeUnits[0]
	require.NotEmpty(t, f.freeDigests)
	assert.Equal(t, unit{digests: u.digests, order: u.order, tags: u.tags, rows: rowTable{slots: u.rows.slots}}, *u,
		"nothing but room is left in a free unit")
	assert.Empty(t, u.digests)
	assert.Empty(t, u.order)
	assert.Empty(t, u.tags)
	for _, ud := range u.order[:cap(u.order)] {
		assert.Nil(t, ud, "the unit's list keeps no statement alive")
	}
	for _, ra := range u.rows.slots {
		assert.Nil(t, ra, "the unit's rows are gone")
	}
	for _, ud := range f.freeDigests {
		assert.Equal(t, unitDigest{examples: ud.examples}, *ud, "nothing but room is left in a free statement")
		assert.Empty(t, ud.examples)
		for _, ex := range ud.examples[:cap(ud.examples)] {
			assert.Equal(t, exampleRef{}, ex, "no example keeps its SQL alive")
		}
	}
	free := len(f.freeDigests)

	tx()
	assert.Len(t, f.freeUnits, 1, "the second transaction reused the unit")
	assert.Same(t, u, f.freeUnits[0])
	assert.Equal(t, free, len(f.freeDigests), "and as many statements as it gave back")
	assert.NotEmpty(t, f.list(), "the findings of both transactions are there")
}

// TestLookupConn: connections whose ids share a direct-mapped slot, or
// share an id from different clients, are each found, before and after
// another of them ends.
func TestLookupConn(t *testing.T) {
	f := newFinder(DefaultConfig().Findings, false)
	at := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	conns := []connKey{{"10.0.0.1:5000", 5}, {"10.0.0.1:5001", 5 + 1024}, {"10.0.0.2:6000", 5}, {"10.0.0.2:6001", 5 + 2048},
		{"10.0.0.3:7000", 7}, {"10.0.0.3:7000", 7 + 1024}} // a client port used again by a later connection
	states := map[connKey]*connState{}
	for _, k := range conns {
		cs := f.conn(&protocol.Event{Command: protocol.ComQuery, ClientAddr: k.client, ConnID: k.id, Sent: at})
		require.NotNil(t, cs)
		for other, st := range states {
			require.NotSame(t, st, cs, "%v has the state of %v", k, other)
		}
		states[k] = cs
	}
	for round := range 2 {
		for _, k := range conns {
			assert.Same(t, states[k], f.lookupConn(k.client, k.id), "round %d: %v", round, k)
		}
	}
	f.closeConn(conns[1], at)
	assert.Nil(t, f.lookupConn(conns[1].client, conns[1].id))
	for _, k := range []connKey{conns[0], conns[2], conns[3], conns[4], conns[5]} {
		assert.Same(t, states[k], f.lookupConn(k.client, k.id), "%v", k)
	}
}
