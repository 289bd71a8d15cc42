//go:build linux

package proxy

// SetRingBuffers sets how many provided buffers the io_uring loops of
// servers started from now on get, and returns what restores the default.
func SetRingBuffers(n int) (restore func()) {
	ringBufCount = n
	return func() { ringBufCount = ringBufs }
}

// UsesURing reports whether s's event loops relay through io_uring.
func (s *Server) UsesURing() bool {
	rings := 0
	for _, l := range s.loops.loops {
		if l.ring != nil {
			rings++
		}
	}
	return rings > 0 && rings == len(s.loops.loops)
}
