package protocol

// Helpers for a proxy that terminates TLS on both legs and must rewrite the
// one capability bit that says whether TLS is offered (§4.5).

// GreetingCapabilities returns the server capabilities announced by a
// HandshakeV10 payload (MariaDB extended capabilities included), or false
// if payload is not a greeting it can read.
func GreetingCapabilities(payload []byte) (CapabilityFlag, bool) {
	if len(payload) == 0 || payload[0] != 0x0A {
		return 0, false
	}
	g, _, reason := parseGreeting(payload)
	return g.caps, reason == ""
}

// ClearGreetingSSL clears CLIENT_SSL in a HandshakeV10 payload, in place, so
// that clients fall back to plaintext. It changes nothing else and reports
// whether the payload was a greeting it could rewrite.
//
//	u8 0x0A | str<NUL> server_version | u32 connection_id | bytes[8] scramble |
//	u8 filler | u16 capability_flags_lower   ← CLIENT_SSL (0x0800) is here
func ClearGreetingSSL(payload []byte) bool {
	if _, ok := GreetingCapabilities(payload); !ok {
		return false
	}
	_, pos, _ := readNullString(payload, 1)
	pos += 4 + 8 + 1
	lo := uint16(payload[pos]) | uint16(payload[pos+1])<<8
	lo &^= uint16(CapSSL)
	payload[pos], payload[pos+1] = byte(lo), byte(lo>>8)
	return true
}

// IsSSLRequest reports whether a client's first payload is an SSLRequest:
// the 32-byte head of a HandshakeResponse41 with CLIENT_SSL set, after which
// the client starts a TLS handshake (§4.2).
func IsSSLRequest(payload []byte) bool {
	if len(payload) != 32 {
		return false
	}
	caps := CapabilityFlag(uint32(payload[0]) | uint32(payload[1])<<8 | uint32(payload[2])<<16 | uint32(payload[3])<<24)
	return caps.Has(CapSSL)
}
