package protocol

import "time"

// Event describes one command and its complete response, or the outcome of a
// connection's handshake (Command == ComConnect). A Session allocates a fresh
// Event per command and hands it to its Handler, which then owns it.
type Event struct {
	// Command is the command byte (ComQuery, ComInitDB, ...). ComConnect marks
	// the end of the connection phase; its ErrorCode is set when login failed.
	// For ComConnect, Sent, Start and FirstResponse are the time of the
	// server's greeting, End that of the OK/ERR ending authentication, and
	// BytesIn/BytesOut count the whole handshake. A connection that switches
	// to TLS (not decoded) or to a protocol variant this package does not
	// decode yields an Incomplete ComConnect at that moment.
	Command Command

	// SQL is the statement text of a COM_QUERY (without any query-attribute
	// prefix) or a COM_STMT_PREPARE, the schema of a COM_INIT_DB, or empty.
	// For the commands that name a prepared statement (EXECUTE, FETCH,
	// BULK_EXECUTE, RESET, CLOSE, SEND_LONG_DATA) it is the SQL of that
	// statement as prepared on this connection, when the PREPARE was seen.
	// It holds at most SessionConfig.MaxSQLBytes bytes (cut at a UTF-8
	// boundary); SQLTruncated reports a cut and SQLLength gives the full
	// length on the wire. SQLTruncated with an empty SQL means the statement
	// could not be located (a query-attribute prefix that did not decode).
	SQL          string
	SQLTruncated bool
	SQLLength    int

	// StmtID is the prepared statement's id: the one a COM_STMT_PREPARE
	// created, or the one a statement command names (MariaDB's 0xFFFFFFFF,
	// "last prepared", resolved to the real id when known).
	StmtID uint32

	// QueryAttributes are the attributes a COM_QUERY carried under
	// CLIENT_QUERY_ATTRIBUTES (MySQL 8.0.23+): at most 16, values rendered
	// as text (integers, floats, strings; temporal values empty; NULL
	// empty). nil when there were none.
	QueryAttributes []Attr

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

	// Results is the number of results in the response that completed: OK
	// packets and result sets (several for a multi-statement query or a
	// CALL). A PREPARE_OK, a COM_STMT_FETCH batch and the bare text answer of
	// COM_STATISTICS count as one; the ERR that ends a response does not.
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
	// included; LOCAL INFILE uploads and COM_CHANGE_USER auth packets
	// included); BytesOut counts wire bytes server→client for its response.
	// Under the compressed protocol both count the decompressed packet
	// stream (packet headers included), not the compressed frames.
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
