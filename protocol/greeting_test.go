package protocol_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/querylens/querylens/protocol"
)

// TestAppendGreetingDecodes checks the greeting the proxy builds is one the
// session's own decoder (written from the spec and real captures) accepts.
func TestAppendGreetingDecodes(t *testing.T) {
	var scramble [20]byte
	for i := range scramble {
		scramble[i] = byte('a' + i)
	}
	pkt := protocol.AppendGreeting(nil, "8.0.0-querylens", 77, scramble)
	s := protocol.NewSession(protocol.SessionConfig{})
	s.Feed(protocol.FromServer, pkt, time.Now())
	assert.NoError(t, s.Err())
	info := s.Info()
	assert.Equal(t, "8.0.0-querylens", info.ServerVersion)
	assert.Equal(t, uint32(77), info.ConnID)
	assert.True(t, info.ServerCaps&protocol.CapProtocol41 != 0)
	assert.True(t, info.ServerCaps&protocol.CapPluginAuth != 0)
	assert.Equal(t, "mysql_native_password", info.AuthPlugin)
	assert.Equal(t, int(pkt[0])|int(pkt[1])<<8|int(pkt[2])<<16, len(pkt)-4, "header length matches payload")
}
