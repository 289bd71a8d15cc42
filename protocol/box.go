package protocol

import (
	"math"
	"unsafe"
)

// valueSlab boxes decoded parameter values into interface values without
// an allocation per value. Converting an int64 of 256 or more, a uint64, a
// float64 or a non-empty string to `any` makes the runtime allocate a copy
// of the value for the interface to point at (half the allocations of a
// prepared execution in a sysbench profile). The slab keeps such values in
// arrays of its own and builds interfaces that point into them: an
// interface's data is never written through, and the slab is append-only
// (a full array is left to the interfaces that point into it, as the
// paramDecoder's arena is), so each value stays what it was boxed as.
type valueSlab struct {
	words   []uint64 // int64, uint64 and float64 values, by their bits
	strings []string // string headers
}

// Slab sizes: 1 KiB of words and 1 KiB of string headers, each good for
// about a hundred typical executions.
const (
	wordSlab   = 128
	stringSlab = 64
)

// eface is the layout of an empty interface: its dynamic type and a
// pointer to its value.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// The runtime's type descriptors of the types the slab boxes.
var (
	int64Type   = typeOf(int64(0))
	uint64Type  = typeOf(uint64(0))
	float64Type = typeOf(float64(0))
	stringType  = typeOf("")
)

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

// pack returns the interface of type typ whose value is at data.
func pack(typ, data unsafe.Pointer) (v any) {
	*(*eface)(unsafe.Pointer(&v)) = eface{typ: typ, data: data}
	return v
}

func (s *valueSlab) word(typ unsafe.Pointer, w uint64) any {
	if len(s.words) == cap(s.words) {
		s.words = make([]uint64, 0, wordSlab)
	}
	s.words = append(s.words, w)
	return pack(typ, unsafe.Pointer(&s.words[len(s.words)-1]))
}

// boxInt returns v as an int64 in an interface.
func (s *valueSlab) boxInt(v int64) any {
	if uint64(v) < 256 {
		return v // the runtime has these boxed already
	}
	return s.word(int64Type, uint64(v))
}

// boxUint returns v as a uint64 in an interface.
func (s *valueSlab) boxUint(v uint64) any {
	if v < 256 {
		return v
	}
	return s.word(uint64Type, v)
}

// boxFloat64 returns v as a float64 in an interface.
func (s *valueSlab) boxFloat64(v float64) any {
	return s.word(float64Type, math.Float64bits(v))
}

// boxString returns v as a string in an interface. Only its header is copied.
func (s *valueSlab) boxString(v string) any {
	if v == "" {
		return ""
	}
	if len(s.strings) == cap(s.strings) {
		s.strings = make([]string, 0, stringSlab)
	}
	s.strings = append(s.strings, v)
	return pack(stringType, unsafe.Pointer(&s.strings[len(s.strings)-1]))
}
