package stats

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/querylens/querylens/fingerprint"
)

// apiFlushTimeout bounds how long a request waits for queued events to be
// applied before it answers from the latest snapshot anyway.
const apiFlushTimeout = 250 * time.Millisecond

// List limits of GET /api/v1/digests.
const (
	DefaultListLimit = 100
	MaxListLimit     = 10000
)

// sortKeys maps the sort parameter of GET /api/v1/digests to a key; every
// order is descending, ties broken by digest and schema.
var sortKeys = map[string]func(*DigestStats) float64{
	"total_time": func(d *DigestStats) float64 { return d.LatencyHistogram.Sum().Seconds() },
	"count":      func(d *DigestStats) float64 { return float64(d.Count) },
	"mean":       func(d *DigestStats) float64 { return d.Latency.Mean },
	"p95":        func(d *DigestStats) float64 { return d.Latency.P95 },
	"p99":        func(d *DigestStats) float64 { return d.Latency.P99 },
	"errors":     func(d *DigestStats) float64 { return float64(d.Errors) },
	"rows_sent":  func(d *DigestStats) float64 { return float64(d.RowsSent) },
	"max":        func(d *DigestStats) float64 { return d.Latency.Max },
}

// sortNames lists the sort keys for error messages.
const sortNames = "total_time, count, mean, p95, p99, errors, rows_sent, max"

// DigestList is the document GET /api/v1/digests and
// GET /api/v1/digests/{digest} answer with.
type DigestList struct {
	Version int            `json:"version"`
	Taken   time.Time      `json:"taken"` // when the snapshot was published
	Since   time.Time      `json:"since"` // when its per-digest numbers start
	Digests []*DigestStats `json:"digests"`
	// Total is the number of entries that matched the filters, before
	// limit.
	Total         int               `json:"total"`
	Tracked       int               `json:"tracked"` // (digest, schema) keys tracked
	MaxDigests    int               `json:"max_digests"`
	Overflow      *DigestStats      `json:"overflow"`
	DroppedEvents uint64            `json:"dropped_events"`
	Events        uint64            `json:"events"`
	Commands      map[string]uint64 `json:"commands"`
	CommandErrors map[string]uint64 `json:"command_errors"`
}

// apiError is the body of every 4xx answer.
type apiError struct {
	Error string `json:"error"`
}

// NewHandler returns the JSON API over e's snapshots:
//
//	GET /api/v1/digests            the aggregates, filtered, sorted and limited
//	GET /api/v1/digests/{digest}   one digest, all its schemas (or ?schema=)
//
// The list takes these query parameters:
//
//	sort    total_time (default), count, mean, p95, p99, errors, rows_sent or
//	        max; always descending
//	limit   1..10000, default 100
//	schema  keep only this default schema (exact; present but empty selects
//	        statements run without a default schema)
//	q       keep only fingerprints containing this text, case-insensitively
//
// A bad parameter gets 400 with {"error": "..."} naming it; an unknown
// digest gets 404, a malformed one 400. The overflow entry is
// GET /api/v1/digests/overflow.
//
// Freshness: before answering, a request calls Engine.Flush with a short
// timeout (250ms), so a client that has just run a statement through the
// proxy sees it. If the writer is too busy to flush in time, the answer
// comes from the latest snapshot, which is at most one PublishInterval old.
//
// The handler serves the full paths above; mount it at "/api/v1/" (or at
// "/") of the caller's mux. It reads snapshots only and is safe for
// concurrent use.
//
// GET /api/v1/findings lists the wasteful patterns found (FindingList),
// by time spent; ?kind= keeps one kind, ?limit= (default 100) cuts the list,
// ?all=1 includes those too rare to be shown (Finding.Visible).
//
// It also serves GET /api/v1/snapshot, the complete versioned Snapshot (what
// `querylens report` and Merge consume), and POST /api/v1/reset, which
// clears the aggregates when the request carries the token set with
// WithResetToken as "Authorization: Bearer TOKEN"; without a configured
// token reset is refused.
func NewHandler(e *Engine, log *zap.Logger, opts ...HandlerOption) http.Handler {
	if log == nil {
		log = zap.NewNop()
	}
	h := &handler{e: e, log: log}
	for _, o := range opts {
		o(h)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/digests", h.list)
	mux.HandleFunc("GET /api/v1/digests/{digest}", h.one)
	mux.HandleFunc("GET /api/v1/snapshot", h.snapshot)
	mux.HandleFunc("GET /api/v1/findings", h.findings)
	mux.HandleFunc("POST /api/v1/reset", h.reset)
	return mux
}

// HandlerOption configures NewHandler.
type HandlerOption func(*handler)

// WithResetToken enables POST /api/v1/reset for requests that present token.
func WithResetToken(token string) HandlerOption {
	return func(h *handler) { h.token = token }
}

type handler struct {
	e     *Engine
	log   *zap.Logger
	token string
}

// FindingList is the document GET /api/v1/findings answers with.
type FindingList struct {
	Version      int              `json:"version"`
	Taken        time.Time        `json:"taken"`
	Since        time.Time        `json:"since"`
	Total        int              `json:"total"` // findings that matched, before limit
	Findings     []*Finding       `json:"findings"`
	Transactions TransactionStats `json:"transactions"`
	Dropped      uint64           `json:"dropped,omitempty"`
}

func (h *handler) findings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := DefaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			h.badRequest(w, fmt.Sprintf("limit: want an integer in 1..%d, got %q", MaxListLimit, v))
			return
		}
		limit = n
	}
	kind := q.Get("kind")
	if kind != "" && !slices.Contains(FindingKinds, kind) {
		h.badRequest(w, fmt.Sprintf("kind: want one of %s, got %q", strings.Join(FindingKinds, ", "), kind))
		return
	}
	s := h.fresh(r)
	out := &FindingList{Version: SnapshotVersion, Taken: s.Taken, Since: s.Since,
		Findings: []*Finding{}, Transactions: s.Transactions, Dropped: s.FindingsDropped}
	all := q.Get("all") != ""
	for _, f := range s.Findings {
		if (kind == "" || f.Kind == kind) && (all || f.Visible(h.e.cfg.Findings.MinShare)) {
			out.Findings = append(out.Findings, f)
		}
	}
	out.Total = len(out.Findings)
	if len(out.Findings) > limit {
		out.Findings = out.Findings[:limit]
	}
	h.write(w, http.StatusOK, out)
}

func (h *handler) snapshot(w http.ResponseWriter, r *http.Request) {
	h.write(w, http.StatusOK, h.fresh(r))
}

func (h *handler) reset(w http.ResponseWriter, r *http.Request) {
	if h.token == "" {
		h.write(w, http.StatusForbidden, apiError{Error: "reset is disabled: start querylens with an API token (--api-token)"})
		return
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="querylens"`)
		h.write(w, http.StatusUnauthorized, apiError{Error: "reset needs the API token as \"Authorization: Bearer TOKEN\""})
		return
	}
	h.e.Reset()
	h.log.Info("aggregates reset through the API", zap.String("remote", r.RemoteAddr))
	h.write(w, http.StatusOK, map[string]bool{"reset": true})
}

// fresh flushes the engine (bounded by apiFlushTimeout) and returns the
// latest snapshot.
func (h *handler) fresh(r *http.Request) *Snapshot {
	ctx, cancel := context.WithTimeout(r.Context(), apiFlushTimeout)
	defer cancel()
	if err := h.e.Flush(ctx); err != nil && !errors.Is(err, ErrStopped) {
		if c := h.log.Check(zap.DebugLevel, "api: answering from an older snapshot"); c != nil {
			c.Write(zap.Error(err))
		}
	}
	return h.e.Snapshot()
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	by := sortKeys["total_time"]
	if v := q.Get("sort"); v != "" {
		if by = sortKeys[v]; by == nil {
			h.badRequest(w, fmt.Sprintf("sort: unknown key %q; want one of %s", v, sortNames))
			return
		}
	}
	limit := DefaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			h.badRequest(w, fmt.Sprintf("limit: %q is not an integer from 1 to %d", v, MaxListLimit))
			return
		}
		limit = n
	}
	schema, bySchema := "", q.Has("schema")
	if bySchema {
		schema = q.Get("schema")
	}
	text := strings.ToLower(q.Get("q"))

	s := h.fresh(r)
	var matched []*DigestStats
	for _, d := range s.Digests {
		if bySchema && d.Schema != schema {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(d.Fingerprint), text) {
			continue
		}
		matched = append(matched, d)
	}
	// Stable on top of the snapshot's (total time, digest, schema) order,
	// so ties keep a deterministic order.
	slices.SortStableFunc(matched, func(a, b *DigestStats) int {
		if c := cmp.Compare(by(b), by(a)); c != 0 {
			return c
		}
		return compareByKey(a, b)
	})
	total := len(matched)
	if len(matched) > limit {
		matched = matched[:limit]
	}
	h.write(w, http.StatusOK, h.newDigestList(s, matched, total))
}

func (h *handler) one(w http.ResponseWriter, r *http.Request) {
	param := r.PathValue("digest")
	q := r.URL.Query()
	schema, bySchema := q.Get("schema"), q.Has("schema")

	var want string
	if param == OverflowDigest {
		want = OverflowDigest
	} else {
		d, err := fingerprint.ParseDigest(param)
		if err != nil {
			h.badRequest(w, fmt.Sprintf("digest: %q is not 16 hex digits", param))
			return
		}
		want = d.String()
	}

	s := h.fresh(r)
	var matched []*DigestStats
	if want == OverflowDigest {
		matched = append(matched, s.Overflow)
	} else {
		for _, d := range s.Digests {
			if d.Digest == want && (!bySchema || d.Schema == schema) {
				matched = append(matched, d)
			}
		}
		slices.SortFunc(matched, compareByKey)
	}
	if len(matched) == 0 {
		msg := fmt.Sprintf("digest %s not found", want)
		if bySchema {
			msg = fmt.Sprintf("digest %s not found in schema %q", want, schema)
		}
		h.write(w, http.StatusNotFound, apiError{Error: msg})
		return
	}
	h.write(w, http.StatusOK, h.newDigestList(s, matched, len(matched)))
}

func (h *handler) newDigestList(s *Snapshot, digests []*DigestStats, total int) *DigestList {
	if digests == nil {
		digests = []*DigestStats{}
	}
	return &DigestList{
		Version:       SnapshotVersion,
		Taken:         s.Taken,
		Since:         s.Since,
		Digests:       digests,
		Total:         total,
		Tracked:       len(s.Digests),
		MaxDigests:    s.MaxDigests,
		Overflow:      s.Overflow,
		DroppedEvents: max(s.DroppedEvents, h.e.Dropped()), // live
		Events:        s.Events,
		Commands:      s.Commands,
		CommandErrors: s.CommandErrors,
	}
}

func (h *handler) badRequest(w http.ResponseWriter, msg string) {
	h.write(w, http.StatusBadRequest, apiError{Error: msg})
}

func (h *handler) write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// The client went away or the connection broke; nothing to tell it.
		if c := h.log.Check(zap.DebugLevel, "api: write response"); c != nil {
			c.Write(zap.Error(err))
		}
	}
}
