package protocol

// Decode helpers for the protocol's basic types, in the vitess style: each
// takes (data, pos) and returns (value, next position, ok). None of them
// panics: on short input they return ok == false and pos unchanged.
//
// Integers are little-endian.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_dt_integers.html
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_dt_strings.html
// https://mariadb.com/kb/en/protocol-data-types/

// readU8 reads one byte.
func readU8(data []byte, pos int) (uint8, int, bool) {
	if pos < 0 || pos >= len(data) {
		return 0, pos, false
	}
	return data[pos], pos + 1, true
}

// readU16 reads a 2-byte little-endian integer.
func readU16(data []byte, pos int) (uint16, int, bool) {
	if pos < 0 || pos+2 > len(data) {
		return 0, pos, false
	}
	return uint16(data[pos]) | uint16(data[pos+1])<<8, pos + 2, true
}

// readU24 reads a 3-byte little-endian integer.
func readU24(data []byte, pos int) (uint32, int, bool) {
	if pos < 0 || pos+3 > len(data) {
		return 0, pos, false
	}
	return uint32(data[pos]) | uint32(data[pos+1])<<8 | uint32(data[pos+2])<<16, pos + 3, true
}

// readU32 reads a 4-byte little-endian integer.
func readU32(data []byte, pos int) (uint32, int, bool) {
	if pos < 0 || pos+4 > len(data) {
		return 0, pos, false
	}
	return uint32(data[pos]) | uint32(data[pos+1])<<8 | uint32(data[pos+2])<<16 |
		uint32(data[pos+3])<<24, pos + 4, true
}

// readU64 reads an 8-byte little-endian integer.
func readU64(data []byte, pos int) (uint64, int, bool) {
	if pos < 0 || pos+8 > len(data) {
		return 0, pos, false
	}
	lo, _, _ := readU32(data, pos)
	hi, _, _ := readU32(data, pos+4)
	return uint64(lo) | uint64(hi)<<32, pos + 8, true
}

// readLenEncInt reads a length-encoded integer:
//
//	0x00–0xFA  the value itself            [1 byte]
//	0xFC       u16 follows                 [3 bytes]
//	0xFD       u24 follows                 [4 bytes]
//	0xFE       u64 follows                 [9 bytes]
//
// 0xFB (NULL in a text row) and 0xFF (never valid) return ok == false; callers
// that accept NULL check for 0xFB themselves. Note that a first byte of 0xFE
// is also how EOF and OK-as-terminator packets start: callers tell them apart
// by position and packet length before calling this (see isTerminator).
func readLenEncInt(data []byte, pos int) (uint64, int, bool) {
	if pos < 0 || pos >= len(data) {
		return 0, pos, false
	}
	switch b := data[pos]; {
	case b < 0xFB:
		return uint64(b), pos + 1, true
	case b == 0xFC:
		v, next, ok := readU16(data, pos+1)
		if !ok {
			return 0, pos, false
		}
		return uint64(v), next, true
	case b == 0xFD:
		v, next, ok := readU24(data, pos+1)
		if !ok {
			return 0, pos, false
		}
		return uint64(v), next, true
	case b == 0xFE:
		v, next, ok := readU64(data, pos+1)
		if !ok {
			return 0, pos, false
		}
		return v, next, true
	default: // 0xFB NULL, 0xFF invalid
		return 0, pos, false
	}
}

// readLenEncString reads a str<lenenc>: a length-encoded integer followed by
// that many bytes. The returned slice aliases data.
func readLenEncString(data []byte, pos int) ([]byte, int, bool) {
	n, next, ok := readLenEncInt(data, pos)
	if !ok || n > uint64(len(data)-next) {
		return nil, pos, false
	}
	end := next + int(n)
	return data[next:end:end], end, true
}

// skipLenEncString skips a str<lenenc> without looking at its bytes.
func skipLenEncString(data []byte, pos int) (int, bool) {
	_, next, ok := readLenEncString(data, pos)
	return next, ok
}

// readNullString reads a str<NUL>. The returned slice aliases data and
// excludes the terminating NUL.
func readNullString(data []byte, pos int) ([]byte, int, bool) {
	if pos < 0 || pos > len(data) {
		return nil, pos, false
	}
	for i := pos; i < len(data); i++ {
		if data[i] == 0 {
			return data[pos:i:i], i + 1, true
		}
	}
	return nil, pos, false
}

// readNullStringOrEOF reads a str<NUL>, or the rest of data when the NUL is
// missing (some servers and clients omit the final NUL of a plugin name).
func readNullStringOrEOF(data []byte, pos int) ([]byte, int) {
	if s, next, ok := readNullString(data, pos); ok {
		return s, next
	}
	if pos < 0 || pos > len(data) {
		return nil, pos
	}
	return data[pos:], len(data)
}

// readBytes reads n raw bytes.
func readBytes(data []byte, pos, n int) ([]byte, int, bool) {
	if pos < 0 || n < 0 || n > len(data)-pos {
		return nil, pos, false
	}
	return data[pos : pos+n : pos+n], pos + n, true
}

// lenEncIntSize returns the number of bytes appendLenEncInt writes for v.
func lenEncIntSize(v uint64) int {
	switch {
	case v < 0xFB:
		return 1
	case v <= 0xFFFF:
		return 3
	case v <= 0xFFFFFF:
		return 4
	default:
		return 9
	}
}

// appendLenEncInt appends v as a length-encoded integer.
func appendLenEncInt(dst []byte, v uint64) []byte {
	switch {
	case v < 0xFB:
		return append(dst, byte(v))
	case v <= 0xFFFF:
		return append(dst, 0xFC, byte(v), byte(v>>8))
	case v <= 0xFFFFFF:
		return append(dst, 0xFD, byte(v), byte(v>>8), byte(v>>16))
	default:
		return append(dst, 0xFE, byte(v), byte(v>>8), byte(v>>16), byte(v>>24),
			byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
	}
}

// appendU16 appends v as 2 little-endian bytes.
func appendU16(dst []byte, v uint16) []byte { return append(dst, byte(v), byte(v>>8)) }

// appendU24 appends the low 24 bits of v as 3 little-endian bytes.
func appendU24(dst []byte, v uint32) []byte { return append(dst, byte(v), byte(v>>8), byte(v>>16)) }

// appendU32 appends v as 4 little-endian bytes.
func appendU32(dst []byte, v uint32) []byte {
	return append(dst, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}
