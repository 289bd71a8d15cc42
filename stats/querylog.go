package stats

import (
	"math/rand/v2"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/querylens/querylens/fingerprint"
	"github.com/querylens/querylens/protocol"
)

// The query log is product output, not diagnostics: one JSON object per
// chosen statement, written by the writer goroutine after it fingerprinted
// the statement, so the relay never pays for it. Statements at or above
// Config.SlowThreshold are always logged with "slow":true; the others with
// probability Config.QueryLogSample.
//
// Literals stay out unless Config.LogLiterals is set: by default an entry
// carries the normalized text and the error code and SQLSTATE, but not the
// raw SQL nor the server's error message (which quotes values, as in
// "Duplicate entry 'alice@example.com'").

// logQuery writes ev's entry, ev.Latency() being latency, if it is chosen.
func (w *writer) logQuery(ev *protocol.Event, fp *fingerprint.Fingerprint, latency time.Duration) {
	if w.cfg.QueryLog == nil {
		return
	}
	slow := w.cfg.SlowThreshold > 0 && latency >= w.cfg.SlowThreshold
	if !slow && (w.cfg.QueryLogSample <= 0 || (w.cfg.QueryLogSample < 1 && rand.Float64() >= w.cfg.QueryLogSample)) {
		return
	}
	ce := w.cfg.QueryLog.Check(zap.InfoLevel, "statement")
	if ce == nil {
		return
	}
	at := ev.Sent
	if at.IsZero() {
		at = w.cfg.Now()
	}
	ce.Time = at
	fields := make([]zap.Field, 0, 20)
	fields = append(fields,
		zap.String("digest", fp.Digest.String()),
		zap.String("fingerprint", fp.Text),
		zap.String("command", ev.Command.String()),
		zap.String("schema", ev.Schema),
		zap.String("user", ev.User),
		zap.String("client", ev.ClientAddr),
		zap.Uint32("conn_id", ev.ConnID),
		zap.Float64("duration_seconds", latency.Seconds()),
		zap.Float64("ttfb_seconds", ev.TimeToFirstByte().Seconds()),
		zap.Uint64("rows_sent", ev.RowsSent),
		zap.Uint64("rows_affected", ev.RowsAffected),
		zap.Uint64("bytes_in", ev.BytesIn),
		zap.Uint64("bytes_out", ev.BytesOut),
	)
	if slow {
		fields = append(fields, zap.Bool("slow", true))
	}
	if ev.Incomplete {
		fields = append(fields, zap.Bool("incomplete", true))
	}
	if ev.ErrorCode != 0 {
		fields = append(fields, zap.Uint16("error_code", ev.ErrorCode), zap.String("sqlstate", ev.SQLState))
		if w.cfg.LogLiterals {
			fields = append(fields, zap.String("error", ev.ErrorMessage))
		}
	}
	if w.cfg.LogLiterals {
		if mayHoldSecret(w.infos[fp.Digest].Kind, ev.SQL) {
			fields = append(fields, zap.Bool("sql_redacted", true))
		} else {
			fields = append(fields, zap.String("sql", ev.SQL))
			if ev.Command == protocol.ComStmtExecute && len(ev.Params) > 0 {
				fields = append(fields, zap.Array("params", paramsMarshaler(ev.Params)))
			}
		}
	}
	if len(fp.Tags) > 0 {
		fields = append(fields, zap.Object("tags", tagsMarshaler(fp.Tags)))
	}
	ce.Write(fields...)
}

type tagsMarshaler []fingerprint.Tag

func (t tagsMarshaler) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for _, tag := range t {
		enc.AddString(tag.Key, tag.Value)
	}
	return nil
}

// paramsMarshaler logs decoded parameters as SQL literals.
type paramsMarshaler []protocol.Param

func (p paramsMarshaler) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, v := range p {
		enc.AppendString(v.String())
	}
	return nil
}
