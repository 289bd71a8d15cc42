package protocol

import (
	"strconv"
	"strings"
)

// DecodeError describes the input that made a Session lose track of a
// connection. After it the session stops decoding (the relay goes on);
// Session.Err returns it.
type DecodeError struct {
	// Message names the message being decoded ("column count",
	// "HandshakeV10", "packet header").
	Message string
	// Offset is the byte offset inside that message's payload where
	// decoding failed (0 when the whole message was unexpected).
	Offset int
	// Reason says what was wrong.
	Reason string
	// Dir is the direction the offending packet travelled.
	Dir Direction
	// StreamOffset is the position of the offending packet's header in
	// that direction's byte stream (after decompression, when compressed).
	StreamOffset int64
}

// Error implements error.
func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("decode ")
	b.WriteString(e.Message)
	b.WriteString(" (")
	b.WriteString(e.Dir.String())
	b.WriteString(" packet at ")
	b.WriteString(strconv.FormatInt(e.StreamOffset, 10))
	b.WriteString(", offset ")
	b.WriteString(strconv.Itoa(e.Offset))
	b.WriteString("): ")
	b.WriteString(e.Reason)
	return b.String()
}

// ServerError is the content of an ERR packet.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_err_packet.html
type ServerError struct {
	Code     uint16
	SQLState string // empty when the packet carried no '#' marker
	Message  string
}

// Error implements error.
func (e *ServerError) Error() string {
	s := "mysql error " + strconv.Itoa(int(e.Code))
	if e.SQLState != "" {
		s += " (" + e.SQLState + ")"
	}
	return s + ": " + e.Message
}
