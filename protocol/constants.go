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
