package protocol

import "time"

// Event describes one command and its complete response, or the outcome of a
// connection's handshake (Command == ComConnect). A Session allocates a fresh
// Event per command and hands it to its Handler, which then owns it.
type Event struct {
	// Command is the command byte (ComQuery, ComInitDB, ...). ComConnect marks
	// the end of the connection phase; its ErrorCode is set when login failed.
	Command Command

	// SQL is the statement text of a COM_QUERY (without any query-attribute
	// prefix), the schema of a COM_INIT_DB, or empty. It holds at most
	// SessionConfig.MaxSQLBytes bytes; SQLTruncated reports a cut and SQLLength
	// gives the full length on the wire.
	SQL          string
	SQLTruncated bool
	SQLLength    int

	// Connection attributes at the time the command was sent.
	User       string
	Schema     string
	ClientAddr string
	ConnID     uint32 // server-assigned connection id from the greeting

	// Sent is when the first byte of the command arrived from the client,
	// Start is max(Sent, end of the previous response) (differs from Sent only
	// for pipelined commands), FirstResponse is when the first byte of the
	// response arrived, End is when its last byte arrived. All are zero when
	// not known (for example End of an Incomplete event).
	Sent          time.Time
	Start         time.Time
	FirstResponse time.Time
	End           time.Time

	// Results is the number of results in the response (several for a
	// multi-statement query or a CALL).
	Results int
	// RowsSent counts rows over all result sets; RowsAffected and Warnings are
	// summed over all results; LastInsertID is the last non-zero one seen.
	RowsSent     uint64
	RowsAffected uint64
	LastInsertID uint64
	Warnings     uint64
	// Status holds the server status flags of the last OK/EOF of the response.
	Status uint16

	// ErrorCode is non-zero when the command (or one of its statements)
	// ended in an ERR packet; SQLState and ErrorMessage come from that packet.
	ErrorCode    uint16
	SQLState     string
	ErrorMessage string

	// BytesIn counts wire bytes client→server for this command (headers
	// included); BytesOut counts wire bytes server→client for its response.
	BytesIn  uint64
	BytesOut uint64

	// Incomplete is set when the connection closed (or the decoder lost
	// track) before the response ended.
	Incomplete bool
}

// Latency returns End − Sent: what the client waited, or 0 when unknown.
func (e *Event) Latency() time.Duration {
	if e.End.IsZero() || e.Sent.IsZero() {
		return 0
	}
	return e.End.Sub(e.Sent)
}

// TimeToFirstByte returns FirstResponse − Sent, or 0 when unknown.
func (e *Event) TimeToFirstByte() time.Duration {
	if e.FirstResponse.IsZero() || e.Sent.IsZero() {
		return 0
	}
	return e.FirstResponse.Sub(e.Sent)
}
