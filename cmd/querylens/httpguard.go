package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"go.uber.org/zap"

	"github.com/querylens/querylens/proxy"
)

// Access to the stats endpoint (--http):
//
//   - Bound to loopback (127.0.0.0/8, ::1, localhost) or to a unix socket,
//     reads need nothing: whoever can reach it already runs on the host.
//   - Bound anywhere else (":9104", "0.0.0.0:9104", a LAN address, a host
//     name), the start is refused unless --http-token is set or
//     --http-insecure says that open reads are intended.
//   - With a token on such a bind, every request needs it as
//     "Authorization: Bearer TOKEN", /metrics included: fingerprints,
//     schemas and table names are information about the application, and
//     Prometheus sends bearer tokens natively (authorization.credentials_file
//     in a scrape config). /healthz stays open: it answers "ok" and nothing
//     else, and liveness probes seldom carry credentials. So do the
//     dashboard's page and its static files (GET / and /static/...): they
//     hold no data, and a browser opening the page cannot send a header;
//     the page asks for the token and sends it with every API request.
//   - Writes (any method but GET and HEAD, such as POST /api/v1/reset)
//     always need the token, on loopback too, and are refused (403) when no
//     token is configured.
//
// The token is compared in constant time (SHA-256 of both sides, then
// subtle.ConstantTimeCompare, so not even its length leaks) and never
// logged.

// validateHTTPAccess folds the deprecated --api-token into --http-token and
// refuses a non-loopback --http without a token or --http-insecure.
func (c *config) validateHTTPAccess() error {
	if c.apiToken != "" {
		if c.httpToken != "" && c.httpToken != c.apiToken {
			return &usageError{"invalid value for flag -api-token: it is a deprecated alias of -http-token and both are set, to different tokens; keep only -http-token"}
		}
		c.httpToken = c.apiToken
	}
	if c.httpToken != "" && !validToken(c.httpToken) {
		return &usageError{"invalid value for flag -http-token: use printable ASCII without spaces (it travels in an HTTP header)"}
	}
	if c.http == "" || c.httpToken != "" || c.httpInsecure || isLoopbackAddr(c.http) {
		return nil
	}
	return &usageError{fmt.Sprintf("invalid value for flag -http: %s is not a loopback address; set -http-token (or QUERYLENS_HTTP_TOKEN) to require a token, or -http-insecure to let anyone who can reach it read the statistics", c.http)}
}

// validToken reports whether s can be sent as a bearer token: visible
// ASCII, no spaces.
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// isLoopbackAddr reports whether a --http address is reachable from this
// host only: a unix socket, "localhost", or a loopback IP. An empty host
// (":9104") binds every interface and is not loopback; neither is any other
// name, since it may resolve to a routable address.
func isLoopbackAddr(addr string) bool {
	network, a, err := proxy.SplitAddr(addr)
	if err != nil {
		return false
	}
	if network == "unix" {
		return true
	}
	host, _, err := net.SplitHostPort(a)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// httpGuard applies the access rules above in front of the stats mux.
type httpGuard struct {
	next           http.Handler
	log            *zap.Logger
	hasToken       bool
	tokenSum       [sha256.Size]byte
	readsNeedToken bool
}

// newHTTPGuard wraps next with the access rules for cfg's --http address
// and token, and logs how the endpoint is exposed.
func newHTTPGuard(next http.Handler, cfg *config, log *zap.Logger) http.Handler {
	g := &httpGuard{next: next, log: log, hasToken: cfg.httpToken != ""}
	if g.hasToken {
		g.tokenSum = sha256.Sum256([]byte(cfg.httpToken))
	}
	loopback := isLoopbackAddr(cfg.http)
	g.readsNeedToken = g.hasToken && !loopback
	if cfg.apiToken != "" {
		log.Warn("--api-token (QUERYLENS_API_TOKEN) is deprecated: use --http-token (QUERYLENS_HTTP_TOKEN)")
	}
	switch {
	case loopback:
		log.Info("stats endpoint on loopback: reads are open, writes need the token",
			zap.Bool("token_set", g.hasToken))
	case g.readsNeedToken:
		log.Info("stats endpoint not on loopback: every request but /healthz and the dashboard page needs the token",
			zap.String("http", cfg.http))
	default:
		log.Warn("stats endpoint not on loopback and without a token (--http-insecure): anyone who can reach it reads the statistics; writes are refused",
			zap.String("http", cfg.http))
	}
	return g
}

// openPath reports whether a read of path needs no token: the health check
// and the dashboard's data-free page and assets.
func openPath(path string) bool {
	return path == "/healthz" || path == "/" || strings.HasPrefix(path, "/static/")
}

func (g *httpGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	if !write && (!g.readsNeedToken || openPath(r.URL.Path)) {
		g.next.ServeHTTP(w, r)
		return
	}
	if !g.hasToken {
		g.deny(w, r, http.StatusForbidden, "writes are disabled: start querylens with --http-token (or QUERYLENS_HTTP_TOKEN)")
		return
	}
	if !g.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="querylens"`)
		g.deny(w, r, http.StatusUnauthorized, `this request needs the --http-token token as "Authorization: Bearer TOKEN"`)
		return
	}
	g.next.ServeHTTP(w, r)
}

// authorized compares the request's bearer token with the configured one
// in constant time.
func (g *httpGuard) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const scheme = "Bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(h[len(scheme):])))
	return subtle.ConstantTimeCompare(sum[:], g.tokenSum[:]) == 1
}

// deny answers like the JSON API does, {"error": "..."}, and logs the
// refusal at debug level (without any header).
func (g *httpGuard) deny(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if c := g.log.Check(zap.DebugLevel, "http request refused"); c != nil {
		c.Write(zap.String("method", r.Method), zap.String("path", r.URL.Path),
			zap.String("remote", r.RemoteAddr), zap.Int("status", status))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}
