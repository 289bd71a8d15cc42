package fingerprint

import (
	"errors"
	"fmt"
)

// Digest is the stable 64-bit id of a normalized statement: xxhash64 of
// RuleVersion followed by the normalized text. Equal texts give equal
// digests in every process and on every platform, so digests can be summed
// across a fleet.
type Digest uint64

// ErrInvalidDigest is wrapped by the errors of ParseDigest and
// Digest.UnmarshalText.
var ErrInvalidDigest = errors.New("invalid digest")

const hexDigits = "0123456789abcdef"

// String returns the digest as 16 lower-case hex digits, zero-padded.
func (d Digest) String() string {
	var b [16]byte
	return string(d.appendHex(b[:0]))
}

// AppendText appends the 16 hex digits of d to b (encoding.TextAppender).
func (d Digest) AppendText(b []byte) ([]byte, error) {
	return d.appendHex(b), nil
}

// MarshalText implements encoding.TextMarshaler, so JSON carries a digest as
// its hex string (a uint64 does not survive JavaScript numbers).
func (d Digest) MarshalText() ([]byte, error) {
	return d.appendHex(make([]byte, 0, 16)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseDigest.
func (d *Digest) UnmarshalText(b []byte) error {
	v, err := parseDigest(b)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func (d Digest) appendHex(b []byte) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(d>>uint(shift))&0xf])
	}
	return b
}

// ParseDigest parses the 16 hex digits written by Digest.String. Upper-case
// digits are accepted; anything else (another length, a sign, a 0x prefix,
// spaces) is an error wrapping ErrInvalidDigest.
func ParseDigest(s string) (Digest, error) {
	return parseDigest([]byte(s))
}

func parseDigest(s []byte) (Digest, error) {
	if len(s) != 16 {
		return 0, fmt.Errorf("parse digest %s: %w: want 16 hex digits, got %d bytes", quoteShort(s), ErrInvalidDigest, len(s))
	}
	var v uint64
	for i, c := range s {
		if !isHex(c) {
			return 0, fmt.Errorf("parse digest %s: %w: byte %d is not a hex digit", quoteShort(s), ErrInvalidDigest, i)
		}
		v = v<<4 | uint64(unhex(c))
	}
	return Digest(v), nil
}

// quoteShort quotes at most the first 40 bytes of s for an error message.
func quoteShort(s []byte) string {
	if len(s) > 40 {
		return fmt.Sprintf("%q...", s[:40])
	}
	return fmt.Sprintf("%q", s)
}
