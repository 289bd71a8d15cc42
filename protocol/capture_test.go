package protocol_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querylens/querylens/protocol"
)

// chunk is one read of a relay: the bytes one side sent, as one Feed call.
type chunk struct {
	Dir  protocol.Direction
	At   time.Duration // since the capture started
	Data []byte
}

// capture is the recorded byte streams of one connection, in relay order.
type capture struct {
	Comment []string
	Chunks  []chunk
}

// base is the fixed time captures are replayed from.
var base = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// replay feeds a capture to a new session and returns its events, the
// session (closed when close is set).
func replay(c *capture, cfg protocol.SessionConfig, split func(n int) []int, close bool) ([]*protocol.Event, *protocol.Session) {
	var evs []*protocol.Event
	cfg.Handler = func(e *protocol.Event) { evs = append(evs, e) }
	s := protocol.NewSession(cfg)
	var last time.Time
	for _, ch := range c.Chunks {
		last = base.Add(ch.At)
		data := ch.Data
		if split == nil {
			s.Feed(ch.Dir, data, last)
			continue
		}
		for _, n := range split(len(data)) {
			s.Feed(ch.Dir, data[:n], last)
			data = data[n:]
		}
	}
	if close {
		s.Close(last.Add(time.Millisecond))
	}
	return evs, s
}

// totals returns the bytes of each direction.
func (c *capture) totals() (in, out uint64) {
	for _, ch := range c.Chunks {
		if ch.Dir == protocol.FromClient {
			in += uint64(len(ch.Data))
		} else {
			out += uint64(len(ch.Data))
		}
	}
	return in, out
}

// The capture file format (testdata/frames/*.hex), documented in
// testdata/frames/README.md:
//
//	# comment                        anywhere; '#' starts a comment
//	> 1.25ms                         a chunk from the client, at this offset
//	< 1.5ms                          a chunk from the server
//	03 00 00 00 0e 00 00 00  |....|  hex bytes; '|' starts an ASCII gutter
//	61*16777211                      a run: byte 0x61, 16777211 times
//
// The writer puts a "# packet" line before each packet header it finds by
// plain framing (not under compression), so the files read like a dissector
// output.

const runMin = 32 // runs at least this long are written as XX*N

func writeCapture(path string, c *capture, annotate bool) error {
	var b bytes.Buffer
	for _, line := range c.Comment {
		fmt.Fprintf(&b, "# %s\n", line)
	}
	var fr [2]annotator
	for _, ch := range c.Chunks {
		mark := ">"
		if ch.Dir == protocol.FromServer {
			mark = "<"
		}
		fmt.Fprintf(&b, "%s %s\n", mark, ch.At.Round(time.Microsecond))
		a := &fr[ch.Dir]
		data := ch.Data
		for len(data) > 0 {
			// Next stop: a packet header boundary or the chunk end.
			n := len(data)
			if annotate {
				if note, ok := a.note(data); ok {
					fmt.Fprintf(&b, "# %s\n", note)
				}
				n = a.span(len(data))
			}
			writeHexRun(&b, data[:n])
			if annotate {
				a.consume(data[:n])
			}
			data = data[n:]
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// annotator is a naive, independent packet framer used only to annotate
// capture files: it knows headers and lengths, nothing else.
type annotator struct {
	hdr    []byte
	remain int // payload bytes left in the current packet
}

// note returns the comment for a header that starts at data.
func (a *annotator) note(data []byte) (string, bool) {
	if a.remain > 0 || len(a.hdr) > 0 {
		return "", false
	}
	if len(data) < 4 {
		return "packet (header split across chunks)", true
	}
	n := int(data[0]) | int(data[1])<<8 | int(data[2])<<16
	return fmt.Sprintf("packet seq=%d len=%d", data[3], n), true
}

// span returns how many of the next n bytes belong to the current unit
// (header, or payload).
func (a *annotator) span(n int) int {
	if a.remain > 0 {
		return min(n, a.remain)
	}
	return min(n, 4-len(a.hdr))
}

func (a *annotator) consume(d []byte) {
	if a.remain > 0 {
		a.remain -= len(d)
		return
	}
	a.hdr = append(a.hdr, d...)
	if len(a.hdr) == 4 {
		a.remain = int(a.hdr[0]) | int(a.hdr[1])<<8 | int(a.hdr[2])<<16
		a.hdr = a.hdr[:0]
	}
}

func writeHexRun(b *bytes.Buffer, d []byte) {
	for len(d) > 0 {
		// A long run of one byte?
		r := 1
		for r < len(d) && d[r] == d[0] {
			r++
		}
		if r >= runMin {
			fmt.Fprintf(b, "%02x*%d\n", d[0], r)
			d = d[r:]
			continue
		}
		// Up to 16 bytes, stopping before a long run.
		n := 0
		for n < len(d) && n < 16 {
			k := 1
			for n+k < len(d) && d[n+k] == d[n] && k < runMin {
				k++
			}
			if k >= runMin {
				break
			}
			n++
		}
		line := d[:n]
		for i, c := range line {
			if i == 8 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(b, "%02x ", c)
		}
		for i := n; i < 16; i++ {
			if i == 8 {
				b.WriteByte(' ')
			}
			b.WriteString("   ")
		}
		b.WriteString(" |")
		for _, c := range line {
			if c >= 0x20 && c < 0x7f && c != '|' && c != '#' {
				b.WriteByte(c)
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteString("|\n")
		d = d[n:]
	}
}

func readCapture(path string) (*capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseCapture(f)
}

func parseCapture(r io.Reader) (*capture, error) {
	c := &capture{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur *chunk
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if i := strings.IndexByte(text, '|'); i >= 0 {
			text = text[:i]
		}
		if i := strings.IndexByte(text, '#'); i >= 0 {
			if strings.TrimSpace(text[:i]) == "" && len(c.Chunks) == 0 {
				c.Comment = append(c.Comment, strings.TrimSpace(text[i+1:]))
			}
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		if text[0] == '>' || text[0] == '<' {
			at, err := time.ParseDuration(strings.TrimSpace(text[1:]))
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", line, err)
			}
			dir := protocol.FromClient
			if text[0] == '<' {
				dir = protocol.FromServer
			}
			c.Chunks = append(c.Chunks, chunk{Dir: dir, At: at})
			cur = &c.Chunks[len(c.Chunks)-1]
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: bytes before the first chunk marker", line)
		}
		for _, tok := range strings.Fields(text) {
			if b, n, ok := strings.Cut(tok, "*"); ok {
				v, err := hex.DecodeString(b)
				count, err2 := strconv.Atoi(n)
				if err != nil || err2 != nil || len(v) != 1 {
					return nil, fmt.Errorf("line %d: bad run %q", line, tok)
				}
				cur.Data = append(cur.Data, bytes.Repeat(v, count)...)
				continue
			}
			v, err := hex.DecodeString(tok)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", line, err)
			}
			cur.Data = append(cur.Data, v...)
		}
	}
	return c, sc.Err()
}

// recorder is a TCP relay that records every chunk it forwards. A chunk is
// recorded before it is written to the other side, so the recording is in
// causal order.
type recorder struct {
	ln       net.Listener
	upstream string
	start    time.Time

	mu    sync.Mutex
	conns []*capture
	live  []func(chunk) // optional per-connection observers, by accept order
	wg    sync.WaitGroup
}

func newRecorder(t testing.TB, upstream string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln, upstream: upstream, start: time.Now()}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.close)
	return r
}

func (r *recorder) addr() string { return r.ln.Addr().String() }

func (r *recorder) close() {
	r.ln.Close()
	r.wg.Wait()
}

// observe registers fn to see the chunks of the next accepted connection as
// they are relayed.
func (r *recorder) observe(fn func(chunk)) {
	r.mu.Lock()
	r.live = append(r.live, fn)
	r.mu.Unlock()
}

func (r *recorder) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", r.upstream)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		cp := &capture{}
		idx := len(r.conns)
		r.conns = append(r.conns, cp)
		var fn func(chunk)
		if idx < len(r.live) {
			fn = r.live[idx]
		}
		r.mu.Unlock()
		r.wg.Add(2)
		done := make(chan struct{}, 2)
		pump := func(dst, src net.Conn, dir protocol.Direction) {
			defer r.wg.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 {
					ch := chunk{Dir: dir, Data: bytes.Clone(buf[:n])}
					r.mu.Lock()
					ch.At = time.Since(r.start)
					cp.Chunks = append(cp.Chunks, ch)
					if fn != nil {
						fn(ch)
					}
					r.mu.Unlock()
					if _, werr := dst.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			// Half-close towards dst so the other pump ends too.
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			done <- struct{}{}
		}
		go pump(up, c, protocol.FromClient)
		go pump(c, up, protocol.FromServer)
		go func() {
			<-done
			<-done
			c.Close()
			up.Close()
		}()
	}
}

// captures waits until the relayed connections are closed (up to timeout)
// and returns their recordings, rebased to start at 0.
func (r *recorder) captures(t testing.TB, want int) []*capture {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		n := len(r.conns)
		r.mu.Unlock()
		if n >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		if len(c.Chunks) > 0 {
			first := c.Chunks[0].At
			for i := range c.Chunks {
				c.Chunks[i].At -= first
			}
		}
	}
	return r.conns
}

// formatEvent renders the fields the capture tests assert on, compactly.
func formatEvent(e *protocol.Event) string {
	var b strings.Builder
	b.WriteString(e.Command.String())
	if e.Command == protocol.ComConnect {
		fmt.Fprintf(&b, " user=%s schema=%s", e.User, e.Schema)
	}
	if e.SQL != "" {
		sql := e.SQL
		if len(sql) > 80 {
			sql = fmt.Sprintf("%s…(%d bytes)", sql[:60], len(sql))
		}
		fmt.Fprintf(&b, " %q", sql)
	}
	num := func(name string, v uint64) {
		if v != 0 {
			fmt.Fprintf(&b, " %s=%d", name, v)
		}
	}
	num("stmt", uint64(e.StmtID))
	num("results", uint64(e.Results))
	num("rows", e.RowsSent)
	num("affected", e.RowsAffected)
	num("insert_id", e.LastInsertID)
	num("warnings", e.Warnings)
	num("err", uint64(e.ErrorCode))
	if e.SQLTruncated {
		fmt.Fprintf(&b, " truncated(%d)", e.SQLLength)
	}
	if len(e.Params) > 0 {
		b.WriteString(" params=[")
		for i, p := range e.Params {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p.String())
		}
		b.WriteString("]")
	}
	if e.ParamCount > len(e.Params) && e.BulkRows == 0 {
		fmt.Fprintf(&b, " param_count=%d", e.ParamCount)
	}
	num("bulk", uint64(e.BulkRows))
	if e.ParamsUndecodable {
		b.WriteString(" params_undecodable")
	}
	for _, a := range e.QueryAttributes {
		fmt.Fprintf(&b, " attr[%s=%s]", a.Key, a.Value)
	}
	if e.Incomplete {
		b.WriteString(" incomplete")
	}
	return b.String()
}

func formatEvents(evs []*protocol.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = formatEvent(e)
	}
	return out
}
