package stats_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/stats"
)

const secretLiteral = "zq-secret-literal-4411"

func queryLogEntries(t *testing.T, cfg stats.Config) []observer.LoggedEntry {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	cfg.QueryLog = zap.New(core)
	e := startEngine(t, cfg)
	fast := query("SELECT * FROM users WHERE email = '"+secretLiteral+"'", "shop", 0, time.Millisecond)
	slow := query("UPDATE users SET note = '"+secretLiteral+"' WHERE id = 9", "shop", time.Second, 2*time.Second)
	failed := query("INSERT INTO users (email) VALUES ('"+secretLiteral+"')", "shop", 2*time.Second, time.Millisecond)
	failed.ErrorCode, failed.SQLState = 1062, "23000"
	failed.ErrorMessage = "Duplicate entry '" + secretLiteral + "' for key 'email'"
	for range 10 {
		e.Observe(fast)
	}
	e.Observe(slow)
	e.Observe(failed)
	flush(t, e)
	return logs.AllUntimed()
}

func TestQueryLogSlowAlwaysSampleRest(t *testing.T) {
	entries := queryLogEntries(t, stats.Config{SlowThreshold: time.Second, QueryLogSample: 0})
	require.Len(t, entries, 1, "only the slow statement")
	f := entries[0].ContextMap()
	assert.Equal(t, true, f["slow"])
	assert.Equal(t, "update users set note = ? where id = ?", f["fingerprint"])
	assert.Equal(t, 2.0, f["duration_seconds"])
	assert.Len(t, f["digest"], 16)
	assert.Equal(t, "shop", f["schema"])
	assert.Equal(t, "app", f["user"])

	all := queryLogEntries(t, stats.Config{SlowThreshold: time.Second, QueryLogSample: 1})
	assert.Len(t, all, 12, "every statement")
	var sawErr bool
	for _, e := range all {
		if code, ok := e.ContextMap()["error_code"]; ok {
			sawErr = true
			assert.EqualValues(t, 1062, code)
			assert.Equal(t, "23000", e.ContextMap()["sqlstate"])
		}
	}
	assert.True(t, sawErr)
}

// TestQueryLogNoLiterals: neither the SQL nor the error message (which
// quotes the value) reaches the log unless LogLiterals is set.
func TestQueryLogNoLiterals(t *testing.T) {
	for _, literals := range []bool{false, true} {
		entries := queryLogEntries(t, stats.Config{QueryLogSample: 1, LogLiterals: literals})
		require.NotEmpty(t, entries)
		b, err := json.Marshal(func() []map[string]any {
			var out []map[string]any
			for _, e := range entries {
				out = append(out, e.ContextMap())
			}
			return out
		}())
		require.NoError(t, err)
		assert.Equal(t, literals, strings.Contains(string(b), secretLiteral), "LogLiterals=%v", literals)
	}
}

func TestQueryLogOffByDefault(t *testing.T) {
	e := startEngine(t, stats.Config{SlowThreshold: time.Nanosecond})
	e.Observe(query("SELECT 1", "", 0, time.Second))
	s := flush(t, e)
	assert.Len(t, s.Digests, 1, "aggregation unaffected without a query log")
}

func TestCredentialsNeverLogged(t *testing.T) {
	for _, sql := range []string{
		"CREATE USER 'u'@'%' IDENTIFIED BY 'Pw-7f3a9c-SECRET'",
		"ALTER USER u IDENTIFIED BY 'Pw-7f3a9c-SECRET'",
		"SET PASSWORD FOR u = PASSWORD('Pw-7f3a9c-SECRET')",
		"GRANT ALL ON *.* TO u IDENTIFIED BY 'Pw-7f3a9c-SECRET'",
		"CHANGE MASTER TO MASTER_PASSWORD='Pw-7f3a9c-SECRET'",
		"SELECT AES_ENCRYPT(body, 'Pw-7f3a9c-SECRET') FROM t",
	} {
		var logs bytes.Buffer
		cfg := stats.Config{LogLiterals: true, QueryLogSample: 1, QueryLog: zap.New(zapcore.NewCore(
			zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.InfoLevel))}
		e := startEngine(t, cfg)
		e.Observe(query(sql, "shop", 0, time.Millisecond))
		s := flush(t, e)
		b, err := json.Marshal(s)
		require.NoError(t, err)
		assert.NotContains(t, string(b), "Pw-7f3a9c", sql)
		assert.NotContains(t, logs.String(), "Pw-7f3a9c", sql)
		assert.Contains(t, logs.String(), `"sql_redacted":true`, sql)
	}
	// Other statements keep their literals with LogLiterals: the check can fail.
	var logs bytes.Buffer
	e := startEngine(t, stats.Config{LogLiterals: true, QueryLogSample: 1, QueryLog: zap.New(zapcore.NewCore(
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.InfoLevel))})
	e.Observe(query("SELECT * FROM t WHERE name = 'Pw-7f3a9c-visible'", "shop", 0, time.Millisecond))
	flush(t, e)
	assert.Contains(t, logs.String(), "Pw-7f3a9c-visible")
}

func TestExecuteSamplesCarryParams(t *testing.T) {
	var logs bytes.Buffer
	e := startEngine(t, stats.Config{LogLiterals: true, QueryLogSample: 1, QueryLog: zap.New(zapcore.NewCore(
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.InfoLevel))})
	ev := query("SELECT * FROM t WHERE id = ? AND name = ?", "shop", 0, time.Millisecond)
	ev.Command = protocol.ComStmtExecute
	ev.Params = []protocol.Param{{Type: protocol.TypeLongLong, Value: int64(42)}, {Type: protocol.TypeVarString, Value: "o'k"}}
	ev.ParamCount = 2
	e.Observe(ev)
	s := flush(t, e)
	require.Len(t, s.Digests, 1)
	assert.Equal(t, `SELECT * FROM t WHERE id = 42 AND name = 'o''k'`, s.Digests[0].SampleRaw)
	assert.Contains(t, logs.String(), `"params":["42","'o''k'"]`)

	// Without LogLiterals nothing of the values is kept.
	logs.Reset()
	e2 := startEngine(t, stats.Config{QueryLogSample: 1, QueryLog: zap.New(zapcore.NewCore(
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.InfoLevel))})
	ev2 := *ev
	e2.Observe(&ev2)
	s = flush(t, e2)
	assert.Empty(t, s.Digests[0].SampleRaw)
	assert.NotContains(t, logs.String(), "42")
}
