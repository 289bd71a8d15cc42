package stats

import (
	"iter"
	"math/bits"
)

// valueCounts counts a statement's executions per hash of its argument
// values, within one unit of work (unitDigest.vals). It stands in for a
// map[uint64]int32 on the writer's hot path: with a map, every execution
// hashed its key twice (a lookup, then the store), and a statement that
// keeps taking new values paid for the map's growth on top. Here one probe
// finds the slot, whose count is then updated in place.
//
// The table is open-addressed with linear probing and at most half full.
// The keys are already hashes; the index is nonetheless taken from the
// high bits of key·φ, so that keys that are not well mixed (a statement
// without literals, a bug upstream) still spread.
type valueCounts struct {
	slots []valueSlot // len is 0 or a power of two
	n     int         // slots in use
}

type valueSlot struct {
	key   uint64
	count int32 // 0 marks an empty slot: a key in the table counts at least 1
}

// minValueSlots is the size of a table's first allocation.
const minValueSlots = 16

// len returns the number of distinct keys counted.
func (c *valueCounts) len() int { return c.n }

// add adds n (at least 1) to key's count and returns the new count. A key
// not in the table is added only while the table holds fewer than limit
// keys; otherwise add returns 0 and false. Tables come from pool, and the
// ones outgrown go back to it; pool may be nil.
func (c *valueCounts) add(key uint64, n int32, limit int, pool *valueSlotPool) (int32, bool) {
	if len(c.slots) == 0 {
		c.slots = pool.get(minValueSlots)
	}
	for {
		mask := len(c.slots) - 1
		for i := c.index(key); ; i = (i + 1) & mask {
			s := &c.slots[i]
			if s.count != 0 {
				if s.key != key {
					continue
				}
				s.count += n
				return s.count, true
			}
			if c.n >= limit {
				return 0, false
			}
			if 2*(c.n+1) <= len(c.slots) {
				s.key, s.count = key, n
				c.n++
				return n, true
			}
			break // full: grow, then look for the key's slot again
		}
		c.grow(pool)
	}
}

// index returns the slot where the probe for key starts (Fibonacci
// hashing: the high bits of key·2^64/φ).
func (c *valueCounts) index(key uint64) int {
	shift := 64 - bits.Len(uint(len(c.slots)-1))
	return int((key * 0x9E3779B97F4A7C15) >> shift)
}

// grow doubles the table and moves every key to its new slot.
func (c *valueCounts) grow(pool *valueSlotPool) {
	old := c.slots
	c.slots = pool.get(2 * len(old))
	defer pool.put(old)
	mask := len(c.slots) - 1
	for _, s := range old {
		if s.count == 0 {
			continue
		}
		i := c.index(s.key)
		for c.slots[i].count != 0 {
			i = (i + 1) & mask
		}
		c.slots[i] = s
	}
}

// release hands c's table to pool and empties c.
func (c *valueCounts) release(pool *valueSlotPool) {
	pool.put(c.slots)
	*c = valueCounts{}
}

// valueSlotPool keeps valueCounts tables for reuse. Each unit of work
// grows its statements' tables anew, and on a busy connection (units of
// thousands of statements) allocating and collecting them cost more than
// filling them; tables of units that ended, and those outgrown, serve the
// next ones. The pool holds at most maxPooledTables tables per size, so at
// most 2·maxPooledTables·maxValueSlots slots (1 MiB) in all.
type valueSlotPool struct {
	free [valueSizeClasses][][]valueSlot // by size: minValueSlots << class
}

const (
	// maxValueSlots is the largest table: maxUnitValues keys, at most
	// half full.
	maxValueSlots    = 2 * maxUnitValues
	valueSizeClasses = 6 // minValueSlots << 5 == maxValueSlots
	maxPooledTables  = 64
)

// get returns an empty table of size n (a power of two, at least
// minValueSlots). A nil pool allocates.
func (p *valueSlotPool) get(n int) []valueSlot {
	if p != nil {
		if c := sizeClass(n); c >= 0 {
			if l := len(p.free[c]); l > 0 {
				s := p.free[c][l-1]
				p.free[c] = p.free[c][:l-1]
				return s
			}
		}
	}
	return make([]valueSlot, n)
}

// put clears s and keeps it for get, when there is room.
func (p *valueSlotPool) put(s []valueSlot) {
	if p == nil {
		return
	}
	if c := sizeClass(len(s)); c >= 0 && len(p.free[c]) < maxPooledTables {
		clear(s)
		p.free[c] = append(p.free[c], s)
	}
}

// sizeClass returns the class of a table of n slots, or -1 when n is not
// one of the pooled sizes.
func sizeClass(n int) int {
	c := bits.Len(uint(n)) - bits.Len(minValueSlots)
	if c < 0 || c >= valueSizeClasses || n != minValueSlots<<c {
		return -1
	}
	return c
}

// all yields the count of every key, in no particular order.
func (c *valueCounts) all() iter.Seq[int32] {
	return func(yield func(int32) bool) {
		for _, s := range c.slots {
			if s.count != 0 && !yield(s.count) {
				return
			}
		}
	}
}

// rowTable holds a unit's rows by rowKey (unit.rows). It stands in for a
// map[rowKey]*rowAccess, which hashed the 16-byte key on every lookup: one
// per key column per execution. Both halves of a rowKey are hashes
// already, so a multiply spreads them. Like valueCounts it is
// open-addressed with linear probing and at most half full; a slot holds
// the row itself, which carries its key.
type rowTable struct {
	slots []*rowAccess // nil marks an empty slot; len is 0 or a power of two
	n     int
}

// len returns the number of rows.
func (t *rowTable) len() int { return t.n }

// get returns the row of k, or nil.
func (t *rowTable) get(k rowKey) *rowAccess {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := t.index(k); ; i = (i + 1) & mask {
		ra := t.slots[i]
		if ra == nil || ra.key == k {
			return ra
		}
	}
}

// put adds ra, whose key must not be in the table.
func (t *rowTable) put(ra *rowAccess) {
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.slots = make([]*rowAccess, max(2*len(old), minValueSlots))
		for _, r := range old {
			if r != nil {
				t.insert(r)
			}
		}
	}
	t.insert(ra)
	t.n++
}

func (t *rowTable) insert(ra *rowAccess) {
	mask := len(t.slots) - 1
	i := t.index(ra.key)
	for t.slots[i] != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = ra
}

func (t *rowTable) index(k rowKey) int {
	shift := 64 - bits.Len(uint(len(t.slots)-1))
	return int(((k.column ^ bits.RotateLeft64(k.value, 32)) * 0x9E3779B97F4A7C15) >> shift)
}

// all yields every row, in no particular order.
func (t *rowTable) all() iter.Seq[*rowAccess] {
	return func(yield func(*rowAccess) bool) {
		for _, ra := range t.slots {
			if ra != nil && !yield(ra) {
				return
			}
		}
	}
}

// stmtMap holds a connection's prepared statements by id
// (connState.stmts), with 128 direct-mapped entries in front of the map.
// Servers number a connection's statements 1, 2, 3..., so an
// application's working set sits in them and an EXECUTE finds its
// statement without hashing (sysbench's read/write test prepares 74 per
// connection; the map lookups were 0.5 % of the relay's CPU at 32 client
// threads). The zero value is empty.
type stmtMap struct {
	m      map[uint32]*stmtState
	recent *[128]*stmtState
}

func (t *stmtMap) len() int { return len(t.m) }

// get returns the statement id, or nil.
func (t *stmtMap) get(id uint32) *stmtState {
	if t.recent == nil {
		return nil
	}
	r := &t.recent[id%uint32(len(t.recent))]
	if st := *r; st != nil && st.id == id {
		return st
	}
	st := t.m[id]
	if st != nil {
		*r = st
	}
	return st
}

// put stores st as statement id, replacing any.
func (t *stmtMap) put(id uint32, st *stmtState) {
	if t.m == nil {
		t.m = map[uint32]*stmtState{}
		t.recent = new([128]*stmtState)
	}
	st.id = id
	t.m[id] = st
	t.recent[id%uint32(len(t.recent))] = st
}

// remove forgets statement id.
func (t *stmtMap) remove(id uint32) {
	if t.recent == nil {
		return
	}
	delete(t.m, id)
	if r := &t.recent[id%uint32(len(t.recent))]; *r != nil && (*r).id == id {
		*r = nil
	}
}
