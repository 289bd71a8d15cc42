//go:build !linux

package proxy

// Event loops are Linux only: elsewhere every connection is relayed by
// pumps.

type loopPool struct{}

func (*loopPool) attach(*conn, chan<- error) *loopConn { return nil }
func (*loopPool) stopAll()                             {}

type loopConn struct{}

func (*loopConn) close()      {}
func (*loopConn) closeWrite() {}
