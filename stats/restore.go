package stats

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/querylens/querylens/fingerprint"
	"github.com/querylens/querylens/protocol"
)

// Restore loads a snapshot's aggregates and counters into an engine that
// has not started: a proxy restarted with a state file goes on counting
// from where it stopped. It must be called before Run. Aggregates beyond
// MaxDigests fold into the overflow entry, as live statements would.
func (e *Engine) Restore(s *Snapshot) error {
	if e.running.Load() {
		return errors.New("stats: Restore after Run")
	}
	if s == nil {
		return nil
	}
	if s.Version != SnapshotVersion {
		return fmt.Errorf("stats: snapshot version %d, want %d", s.Version, SnapshotVersion)
	}
	w := e.w
	w.reset()
	if !s.Since.IsZero() {
		w.since = s.Since
	}
	for _, d := range s.Digests {
		if d == nil {
			continue
		}
		dg, err := fingerprint.ParseDigest(d.Digest)
		if err != nil {
			return fmt.Errorf("stats: snapshot digest: %w", err)
		}
		k := aggKey{digest: dg, schema: d.Schema}
		if len(w.aggs) >= w.cfg.MaxDigests {
			w.overflow.absorb(d)
			continue
		}
		a := &aggregate{
			digest: d.Digest, schema: d.Schema, text: d.Fingerprint, truncated: d.FingerprintTruncated,
			info:  fingerprint.Info{Kind: d.Kind, Tables: d.Tables, ParseError: d.ParseError},
			users: boundedSet{limit: MaxUsers},
		}
		a.absorb(d)
		w.aggs[k] = a
		w.infos[dg] = a.info
	}
	if s.Overflow != nil {
		w.overflow.absorb(s.Overflow)
	}
	restoreCounts(&w.commands, s.Commands)
	restoreCounts(&w.commandErrors, s.CommandErrors)
	w.events += s.Events
	w.overflowEvents += s.OverflowEvents
	e.dropped.Add(s.DroppedEvents)
	w.find.restore(s)
	w.dirty = true
	e.publish()
	return nil
}

// absorb adds a snapshot entry's numbers to a.
func (a *aggregate) absorb(d *DigestStats) {
	a.dirty = true
	a.count += d.Count
	a.units += d.Units
	for i, c := range statementCommands {
		a.commands[i] += d.Commands[c.String()]
	}
	a.errors += d.Errors
	a.prepareErrors += d.PrepareErrors
	for code, n := range d.ErrorsByCode {
		if a.errCodes[code] == 0 && len(a.errCodes) >= MaxErrorCodes {
			a.errOther += n
			continue
		}
		if a.errCodes == nil {
			a.errCodes = make(map[uint16]uint64)
		}
		a.errCodes[code] += n
	}
	a.errOther += d.ErrorsOtherCodes
	a.incomplete += d.Incomplete
	a.rowsSent += d.RowsSent
	a.rowsAffected += d.RowsAffected
	a.warnings += d.Warnings
	a.bytesIn += d.BytesIn
	a.bytesOut += d.BytesOut
	a.latency.Merge(&d.LatencyHistogram)
	a.ttfb.Merge(&d.TTFBHistogram)
	if !d.FirstSeen.IsZero() {
		a.seen(d.FirstSeen)
	}
	if !d.LastSeen.IsZero() {
		a.seen(d.LastSeen)
	}
	for _, u := range d.Users {
		a.users.add(u)
	}
	a.users.truncated = a.users.truncated || d.UsersTruncated
	for _, sc := range d.Schemas {
		a.schemas.add(sc)
	}
	for _, t := range d.Tags {
		k, v, _ := strings.Cut(t, "=")
		a.addTag(fingerprint.Tag{Key: k, Value: v})
	}
	if d.SampleRaw != "" && a.rawSample == "" {
		a.rawSample, a.rawSampleLatency = d.SampleRaw, time.Duration(d.Latency.Max*float64(time.Second))
	}
}

func restoreCounts(dst *[256]uint64, src map[string]uint64) {
	for name, n := range src {
		for b := range 256 {
			if protocol.Command(b).String() == name {
				dst[b] += n
				break
			}
		}
	}
}
