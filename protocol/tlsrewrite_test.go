package protocol_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/protocol"
)

func TestClearGreetingSSL(t *testing.T) {
	pkt := protocol.AppendGreeting(nil, "8.0.0-x", 1, [20]byte{1, 2, 3})
	payload := pkt[4:]
	// Set CLIENT_SSL as a server offering TLS would.
	lo := binary.LittleEndian.Uint16(payload[1+len("8.0.0-x")+1+4+9:])
	binary.LittleEndian.PutUint16(payload[1+len("8.0.0-x")+1+4+9:], lo|uint16(protocol.CapSSL))
	before := append([]byte(nil), payload...)
	caps, ok := protocol.GreetingCapabilities(payload)
	require.True(t, ok)
	require.True(t, caps.Has(protocol.CapSSL))

	require.True(t, protocol.ClearGreetingSSL(payload))
	caps, ok = protocol.GreetingCapabilities(payload)
	require.True(t, ok)
	assert.False(t, caps.Has(protocol.CapSSL))
	assert.True(t, caps.Has(protocol.CapProtocol41|protocol.CapPluginAuth), "other bits kept")
	diff := 0
	for i := range payload {
		if payload[i] != before[i] {
			diff++
		}
	}
	assert.Equal(t, 1, diff, "exactly one byte changes")

	assert.False(t, protocol.ClearGreetingSSL([]byte{0xff, 0x10, 0x04}), "an ERR is not a greeting")
	assert.False(t, protocol.ClearGreetingSSL(payload[:10]), "truncated")
}

func TestIsSSLRequest(t *testing.T) {
	p := make([]byte, 32)
	binary.LittleEndian.PutUint32(p, uint32(protocol.CapProtocol41|protocol.CapSSL))
	assert.True(t, protocol.IsSSLRequest(p))
	binary.LittleEndian.PutUint32(p, uint32(protocol.CapProtocol41))
	assert.False(t, protocol.IsSSLRequest(p))
	assert.False(t, protocol.IsSSLRequest(make([]byte, 33)))
}

func FuzzClearGreetingSSL(f *testing.F) {
	f.Add(protocol.AppendGreeting(nil, "8.0.0-x", 1, [20]byte{})[4:])
	f.Add([]byte{0x0a, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		protocol.ClearGreetingSSL(b)
		protocol.IsSSLRequest(b)
	})
}
