package stats_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/querylens/querylens/fingerprint"
	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/stats"
)

// t0 is the fixed clock of every test engine.
var t0 = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

// fixedNow is the injected clock: it always answers t0.
func fixedNow() time.Time { return t0 }

// startEngine creates an engine with cfg (Now defaults to fixedNow), runs its
// writer until the test ends, and waits for the writer to return then.
func startEngine(t testing.TB, cfg stats.Config) *stats.Engine {
	t.Helper()
	e := newEngine(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return e
}

// newEngine creates an engine without starting its writer.
func newEngine(t testing.TB, cfg stats.Config) *stats.Engine {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = fixedNow
	}
	e, err := stats.New(cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	return e
}

// flush waits until everything observed so far is in the snapshot.
func flush(t testing.TB, e *stats.Engine) *stats.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, e.Flush(ctx))
	return e.Snapshot()
}

// query returns a completed COM_QUERY event that started at t0+at and took
// latency, with its first response byte halfway through.
func query(sql, schema string, at, latency time.Duration) *protocol.Event {
	sent := t0.Add(at)
	return &protocol.Event{
		Command:       protocol.ComQuery,
		SQL:           sql,
		SQLLength:     len(sql),
		User:          "app",
		Schema:        schema,
		Sent:          sent,
		Start:         sent,
		FirstResponse: sent.Add(latency / 2),
		End:           sent.Add(latency),
		Results:       1,
		BytesIn:       uint64(len(sql) + 5),
		BytesOut:      100,
	}
}

// digestOf returns the digest string the engine will key sql by.
func digestOf(sql string) string {
	return fingerprint.New(fingerprint.DefaultConfig()).Fingerprint(sql).Digest.String()
}

// textOf returns the normalized text of sql.
func textOf(sql string) string {
	return fingerprint.New(fingerprint.DefaultConfig()).Fingerprint(sql).Text
}

// find returns the snapshot entry for (digest of sql, schema), or nil.
func find(s *stats.Snapshot, sql, schema string) *stats.DigestStats {
	d := digestOf(sql)
	for _, e := range s.Digests {
		if e.Digest == d && e.Schema == schema {
			return e
		}
	}
	return nil
}
