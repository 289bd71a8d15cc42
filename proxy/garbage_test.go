package proxy_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/stats"
)

// garbageServer sends each connection a valid greeting (without
// CLIENT_SSL, so the proxy has no reason to touch it) and then the bytes
// script gives for it, records every byte it receives, and closes once the
// client is done.
type garbageServer struct {
	l        net.Listener
	greeting []byte
	mu       sync.Mutex
	received [][]byte
	wg       sync.WaitGroup
}

func startGarbageServer(t *testing.T, script func(i int) []byte) *garbageServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := &garbageServer{l: l, greeting: protocol.AppendGreeting(nil, "10.11.0-garbage", 7, [20]byte{1, 2, 3})}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for i := 0; ; i++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				defer c.Close()
				if _, err := c.Write(g.greeting); err != nil {
					return
				}
				// Like a server: it reads until the client is done, writes
				// meanwhile, and closes when both are over (a MySQL server
				// never half-closes and goes on reading).
				var got bytes.Buffer
				done := make(chan struct{})
				go func() { io.Copy(&got, c); close(done) }()
				_, _ = c.Write(script(i))
				select {
				case <-done:
				case <-time.After(10 * time.Second):
				}
				g.mu.Lock()
				g.received = append(g.received, got.Bytes())
				g.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); g.wg.Wait() })
	return g
}

// TestRandomBytesNeverAltered sends random bytes and truncated packets
// through the proxy in both directions, after a real greeting: whatever the
// decoder makes of them (it gives up and counts a decode error), the relay
// delivers every byte unchanged, and the proxy and its statistics keep
// working.
func TestRandomBytesNeverAltered(t *testing.T) {
	checkLeaks(t)
	rng := rand.New(rand.NewPCG(1, 2))
	const conns = 40
	fromServer := make([][]byte, conns)
	fromClient := make([][]byte, conns)
	for i := range conns {
		fromServer[i] = junk(rng, i)
		fromClient[i] = junk(rng, i+1)
	}
	srv := startGarbageServer(t, func(i int) []byte { return fromServer[i%conns] })
	engine, err := stats.New(stats.Config{}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	engineDone := make(chan struct{})
	go func() { engine.Run(ctx); close(engineDone) }()
	defer func() { cancel(); <-engineDone }()
	p := startObserved(t, srv.l.Addr().String(), proxyOpts{sink: engine, quiet: true})

	for i := range conns {
		c, err := net.Dial("tcp", p.addr)
		require.NoError(t, err)
		var got bytes.Buffer
		done := make(chan struct{})
		go func() { io.Copy(&got, c); close(done) }()
		_, err = c.Write(fromClient[i])
		require.NoError(t, err)
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("connection %d: no end", i)
		}
		c.Close()
		want := append(append([]byte{}, srv.greeting...), fromServer[i]...)
		require.True(t, bytes.Equal(want, got.Bytes()), "connection %d: the client got %d bytes, want %d, altered", i, got.Len(), len(want))
	}
	p.waitIdle(t)
	srv.mu.Lock()
	received := srv.received
	srv.mu.Unlock()
	require.Len(t, received, conns)
	// Connections end in any order on the server side: compare as sets.
	want := map[string]int{}
	for _, b := range fromClient {
		want[string(b)]++
	}
	for _, b := range received {
		want[string(b)]--
	}
	for k, n := range want {
		assert.Zero(t, n, "a client byte stream of %d bytes arrived %d times too few", len(k), n)
	}
	assert.Positive(t, p.metric(t, "querylens_decode_errors_total"), "the decoder gave up on some streams")
	assert.Zero(t, p.metric(t, "querylens_decoder_panics_total"))
	require.NoError(t, engine.Flush(context.Background()))
	assert.Zero(t, engine.Snapshot().Panics)
}

// junk is a byte stream that looks like MySQL packets, then stops making
// sense: a few packets with plausible headers and random payloads, some
// with lengths that lie (truncated packets), some pure noise.
func junk(rng *rand.Rand, i int) []byte {
	var b []byte
	switch i % 4 {
	case 0: // pure noise
		b = make([]byte, rng.IntN(64<<10))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
	case 1: // packets whose length runs past the end
		for range 1 + rng.IntN(5) {
			n := rng.IntN(1 << 12)
			var h [4]byte
			binary.LittleEndian.PutUint32(h[:], uint32(n+rng.IntN(100)))
			h[3] = byte(rng.IntN(256))
			b = append(b, h[:]...)
			for range n {
				b = append(b, byte(rng.Uint32()))
			}
		}
	case 2: // a 16 MiB split packet header with little behind it
		b = append(b, 0xff, 0xff, 0xff, 1, 3)
		for range rng.IntN(1 << 16) {
			b = append(b, byte(rng.Uint32()))
		}
	case 3: // well-formed packets with random bodies, then noise
		seq := byte(1)
		for range 1 + rng.IntN(20) {
			n := rng.IntN(300)
			b = append(b, byte(n), byte(n>>8), 0, seq)
			seq++
			for range n {
				b = append(b, byte(rng.Uint32()))
			}
		}
		for range rng.IntN(500) {
			b = append(b, byte(rng.Uint32()))
		}
	}
	return b
}
