package protocol

import "strconv"

// Command is the first payload byte of a command-phase client packet.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html
type Command uint8

// Command bytes (mysql-server include/my_command.h, MariaDB include/mariadb_com.h).
const (
	ComSleep            Command = 0x00
	ComQuit             Command = 0x01
	ComInitDB           Command = 0x02
	ComQuery            Command = 0x03
	ComFieldList        Command = 0x04
	ComCreateDB         Command = 0x05
	ComDropDB           Command = 0x06
	ComRefresh          Command = 0x07
	ComShutdown         Command = 0x08
	ComStatistics       Command = 0x09
	ComProcessInfo      Command = 0x0A
	ComConnect          Command = 0x0B // also used by Session for the handshake event
	ComProcessKill      Command = 0x0C
	ComDebug            Command = 0x0D
	ComPing             Command = 0x0E
	ComTime             Command = 0x0F
	ComDelayedInsert    Command = 0x10
	ComChangeUser       Command = 0x11
	ComBinlogDump       Command = 0x12
	ComTableDump        Command = 0x13
	ComConnectOut       Command = 0x14
	ComRegisterSlave    Command = 0x15
	ComStmtPrepare      Command = 0x16
	ComStmtExecute      Command = 0x17
	ComStmtSendLongData Command = 0x18
	ComStmtClose        Command = 0x19
	ComStmtReset        Command = 0x1A
	ComSetOption        Command = 0x1B
	ComStmtFetch        Command = 0x1C
	ComDaemon           Command = 0x1D
	ComBinlogDumpGTID   Command = 0x1E
	ComResetConnection  Command = 0x1F
	ComClone            Command = 0x20
	ComSubscribeGRS     Command = 0x21
	ComStmtBulkExecute  Command = 0xFA // MariaDB
)

var commandNames = [...]string{
	ComSleep: "sleep", ComQuit: "quit", ComInitDB: "init_db", ComQuery: "query",
	ComFieldList: "field_list", ComCreateDB: "create_db", ComDropDB: "drop_db",
	ComRefresh: "refresh", ComShutdown: "shutdown", ComStatistics: "statistics",
	ComProcessInfo: "process_info", ComConnect: "connect", ComProcessKill: "process_kill",
	ComDebug: "debug", ComPing: "ping", ComTime: "time", ComDelayedInsert: "delayed_insert",
	ComChangeUser: "change_user", ComBinlogDump: "binlog_dump", ComTableDump: "table_dump",
	ComConnectOut: "connect_out", ComRegisterSlave: "register_slave",
	ComStmtPrepare: "stmt_prepare", ComStmtExecute: "stmt_execute",
	ComStmtSendLongData: "stmt_send_long_data", ComStmtClose: "stmt_close",
	ComStmtReset: "stmt_reset", ComSetOption: "set_option", ComStmtFetch: "stmt_fetch",
	ComDaemon: "daemon", ComBinlogDumpGTID: "binlog_dump_gtid",
	ComResetConnection: "reset_connection", ComClone: "clone",
	ComSubscribeGRS: "subscribe_group_replication_stream",
}

// String returns the lower-case command name without the COM_ prefix
// ("query", "stmt_execute"), or "unknown" for bytes no server defines. The
// set of names is closed, so it is safe as a metric label.
func (c Command) String() string {
	if int(c) < len(commandNames) && commandNames[c] != "" {
		return commandNames[c]
	}
	if c == ComStmtBulkExecute {
		return "stmt_bulk_execute"
	}
	return "unknown"
}

// GoString helps test failure output.
func (c Command) GoString() string { return "Command(0x" + strconv.FormatUint(uint64(c), 16) + ")" }

// CapabilityFlag is a set of capability flags. Bits 0..31 are the classic
// flags of the greeting and the HandshakeResponse41; bits 32..63 hold
// MariaDB's extended capabilities, which a MariaDB server (≥ 10.2) sends in
// the greeting's reserved bytes when it clears bit 0 (CLIENT_MYSQL), and a
// client sends at payload offset 28..31 of its response.
// https://dev.mysql.com/doc/dev/mysql-server/latest/group__group__cs__capabilities__flags.html
// https://mariadb.com/kb/en/connection/#capabilities
type CapabilityFlag uint64

// Capability flags (mysql-server include/mysql_com.h; MariaDB
// include/mysql_com.h and Connector/C include/mariadb_com.h).
const (
	CapLongPassword     CapabilityFlag = 1 << 0 // MariaDB: CLIENT_MYSQL; clear = extended caps present
	CapFoundRows        CapabilityFlag = 1 << 1
	CapLongFlag         CapabilityFlag = 1 << 2
	CapConnectWithDB    CapabilityFlag = 1 << 3
	CapNoSchema         CapabilityFlag = 1 << 4
	CapCompress         CapabilityFlag = 1 << 5
	CapODBC             CapabilityFlag = 1 << 6
	CapLocalFiles       CapabilityFlag = 1 << 7
	CapIgnoreSpace      CapabilityFlag = 1 << 8
	CapProtocol41       CapabilityFlag = 1 << 9
	CapInteractive      CapabilityFlag = 1 << 10
	CapSSL              CapabilityFlag = 1 << 11
	CapIgnoreSigpipe    CapabilityFlag = 1 << 12
	CapTransactions     CapabilityFlag = 1 << 13
	CapReserved         CapabilityFlag = 1 << 14
	CapSecureConnection CapabilityFlag = 1 << 15
	CapMultiStatements  CapabilityFlag = 1 << 16
	CapMultiResults     CapabilityFlag = 1 << 17
	CapPSMultiResults   CapabilityFlag = 1 << 18
	CapPluginAuth       CapabilityFlag = 1 << 19
	CapConnectAttrs     CapabilityFlag = 1 << 20
	CapPluginAuthLenenc CapabilityFlag = 1 << 21 // PLUGIN_AUTH_LENENC_CLIENT_DATA
	CapCanHandleExpired CapabilityFlag = 1 << 22
	CapSessionTrack     CapabilityFlag = 1 << 23
	CapDeprecateEOF     CapabilityFlag = 1 << 24
	// CapOptionalResultsetMetadata (MySQL 8.0.3+) adds a metadata_follows byte
	// after each column count and to PREPARE_OK.
	CapOptionalResultsetMetadata CapabilityFlag = 1 << 25
	CapZstdCompression           CapabilityFlag = 1 << 26 // MySQL 8.0.18+
	CapQueryAttributes           CapabilityFlag = 1 << 27 // MySQL 8.0.23+
	CapMultiFactorAuth           CapabilityFlag = 1 << 28 // MySQL 8.0.28+
	// CapProgressObsolete is bit 29: MySQL's CAPABILITY_EXTENSION (reserved),
	// MariaDB's old CLIENT_PROGRESS.
	CapProgressObsolete     CapabilityFlag = 1 << 29
	CapSSLVerifyServerCert  CapabilityFlag = 1 << 30
	CapRememberOptions      CapabilityFlag = 1 << 31
	CapMariaDBProgress      CapabilityFlag = 1 << 32 // MARIADB_CLIENT_PROGRESS
	CapMariaDBComMulti      CapabilityFlag = 1 << 33 // MARIADB_CLIENT_COM_MULTI (removed)
	CapMariaDBStmtBulk      CapabilityFlag = 1 << 34 // MARIADB_CLIENT_STMT_BULK_OPERATIONS
	CapMariaDBExtMetadata   CapabilityFlag = 1 << 35 // MARIADB_CLIENT_EXTENDED_METADATA
	CapMariaDBCacheMetadata CapabilityFlag = 1 << 36 // MARIADB_CLIENT_CACHE_METADATA (10.6+)
	CapMariaDBBulkUnitRes   CapabilityFlag = 1 << 37 // MARIADB_CLIENT_BULK_UNIT_RESULTS (11.5+)
)

// Has reports whether all bits of f are set in c.
func (c CapabilityFlag) Has(f CapabilityFlag) bool { return c&f == f }

// StatusFlag is the server status word of OK and EOF packets.
// https://dev.mysql.com/doc/dev/mysql-server/latest/mysql__com_8h.html (SERVER_STATUS_*)
type StatusFlag uint16

// Server status flags.
const (
	StatusInTrans            StatusFlag = 0x0001
	StatusAutocommit         StatusFlag = 0x0002
	StatusMoreResultsExist   StatusFlag = 0x0008
	StatusNoGoodIndexUsed    StatusFlag = 0x0010
	StatusNoIndexUsed        StatusFlag = 0x0020
	StatusCursorExists       StatusFlag = 0x0040
	StatusLastRowSent        StatusFlag = 0x0080
	StatusDBDropped          StatusFlag = 0x0100
	StatusNoBackslashEscapes StatusFlag = 0x0200
	StatusMetadataChanged    StatusFlag = 0x0400
	StatusQueryWasSlow       StatusFlag = 0x0800
	StatusPSOutParams        StatusFlag = 0x1000
	StatusInTransReadonly    StatusFlag = 0x2000
	StatusSessionStateChange StatusFlag = 0x4000
	StatusANSIQuotes         StatusFlag = 0x8000 // MariaDB
)

// Packet-level constants.
const (
	// MaxPacketPayload is the largest payload of one physical packet. A
	// payload of exactly this size means the logical packet continues in the
	// next physical packet (possibly an empty one).
	MaxPacketPayload = 0xFFFFFF

	// First payload bytes of generic response packets.
	headerOK          = 0x00
	headerLocalInfile = 0xFB
	headerEOF         = 0xFE
	headerErr         = 0xFF

	// mariaDBProgressCode is the ERR code MariaDB uses for progress reports.
	mariaDBProgressCode = 0xFFFF
)

// FieldType is a column or parameter type byte (enum_field_types), as sent
// in column definitions, in COM_STMT_EXECUTE parameter types and in binary
// rows.
// https://dev.mysql.com/doc/dev/mysql-server/latest/field__types_8h.html
// https://mariadb.com/kb/en/result-set-packets/#field-types
type FieldType uint8

// Field types. TIMESTAMP2, DATETIME2, TIME2 and TYPED_ARRAY occur only in
// binlogs and server internals, never in the client protocol.
const (
	TypeDecimal    FieldType = 0x00
	TypeTiny       FieldType = 0x01
	TypeShort      FieldType = 0x02
	TypeLong       FieldType = 0x03
	TypeFloat      FieldType = 0x04
	TypeDouble     FieldType = 0x05
	TypeNull       FieldType = 0x06
	TypeTimestamp  FieldType = 0x07
	TypeLongLong   FieldType = 0x08
	TypeInt24      FieldType = 0x09
	TypeDate       FieldType = 0x0A
	TypeTime       FieldType = 0x0B
	TypeDatetime   FieldType = 0x0C
	TypeYear       FieldType = 0x0D
	TypeNewDate    FieldType = 0x0E
	TypeVarchar    FieldType = 0x0F
	TypeBit        FieldType = 0x10
	TypeTimestamp2 FieldType = 0x11
	TypeDatetime2  FieldType = 0x12
	TypeTime2      FieldType = 0x13
	TypeTypedArray FieldType = 0x14
	TypeVector     FieldType = 0xF2 // MySQL 9
	TypeJSON       FieldType = 0xF5
	TypeNewDecimal FieldType = 0xF6
	TypeEnum       FieldType = 0xF7
	TypeSet        FieldType = 0xF8
	TypeTinyBlob   FieldType = 0xF9
	TypeMediumBlob FieldType = 0xFA
	TypeLongBlob   FieldType = 0xFB
	TypeBlob       FieldType = 0xFC
	TypeVarString  FieldType = 0xFD
	TypeString     FieldType = 0xFE
	TypeGeometry   FieldType = 0xFF
)

var fieldTypeNames = [...]string{
	TypeDecimal: "decimal", TypeTiny: "tiny", TypeShort: "short", TypeLong: "long",
	TypeFloat: "float", TypeDouble: "double", TypeNull: "null", TypeTimestamp: "timestamp",
	TypeLongLong: "longlong", TypeInt24: "int24", TypeDate: "date", TypeTime: "time",
	TypeDatetime: "datetime", TypeYear: "year", TypeNewDate: "newdate", TypeVarchar: "varchar",
	TypeBit: "bit", TypeTimestamp2: "timestamp2", TypeDatetime2: "datetime2", TypeTime2: "time2",
	TypeTypedArray: "typed_array",
}

var fieldTypeNamesHigh = [...]string{ // from 0xF2
	TypeVector - 0xF2: "vector", TypeJSON - 0xF2: "json", TypeNewDecimal - 0xF2: "newdecimal",
	TypeEnum - 0xF2: "enum", TypeSet - 0xF2: "set", TypeTinyBlob - 0xF2: "tiny_blob",
	TypeMediumBlob - 0xF2: "medium_blob", TypeLongBlob - 0xF2: "long_blob", TypeBlob - 0xF2: "blob",
	TypeVarString - 0xF2: "var_string", TypeString - 0xF2: "string", TypeGeometry - 0xF2: "geometry",
}

// String returns the lower-case type name without the MYSQL_TYPE_ prefix
// ("longlong", "var_string"), or "unknown". The set of names is closed.
func (t FieldType) String() string {
	var name string
	switch {
	case int(t) < len(fieldTypeNames):
		name = fieldTypeNames[t]
	case t >= 0xF2:
		name = fieldTypeNamesHigh[t-0xF2]
	}
	if name == "" {
		return "unknown"
	}
	return name
}

// GoString helps test failure output.
func (t FieldType) GoString() string {
	return "FieldType(0x" + strconv.FormatUint(uint64(t), 16) + ")"
}
