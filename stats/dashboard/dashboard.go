package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy is the policy sent with every answer: everything
// from the page's own origin only, no inline script or style, no plugins, no
// framing, and Trusted Types enforced with no policy allowed, so no string
// can ever become markup or script.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// DefaultRefresh is the page's refresh interval unless WithRefresh says
// otherwise; the user can change it on the page.
const DefaultRefresh = 2 * time.Second

// Option configures Handler.
type Option func(*config)

type config struct {
	refresh time.Duration
}

// WithRefresh sets the interval at which the page refreshes its data by
// default (rounded to whole milliseconds, at least 250ms).
func WithRefresh(d time.Duration) Option {
	return func(c *config) { c.refresh = d }
}

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string // strong ETag over body
	version     string // short content hash used in ?v=
}

// contentTypes maps the extensions the static directory uses.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".txt":  "text/plain; charset=utf-8",
}

type handler struct {
	index  asset
	assets map[string]asset // by path under static/
	mux    *http.ServeMux
}

// Handler returns the dashboard: the page at GET / and its assets at
// GET /static/{name}. Every other path gets 404, every other method 405.
//
// Mount it at "/" of the endpoint's mux, beside the JSON API at /api/ and
// the metrics at /metrics that the page reads (more specific patterns win,
// so the API keeps its paths). To serve under a path prefix, strip it with
// http.StripPrefix and serve the API and metrics under the same prefix.
func Handler(opts ...Option) http.Handler {
	cfg := config{refresh: DefaultRefresh}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := newHandler(cfg)
	if err != nil {
		// The files are compiled in; failing here means the binary was
		// built from a broken tree.
		panic(fmt.Sprintf("dashboard: embedded assets: %v", err))
	}
	return h
}

func newHandler(cfg config) (*handler, error) {
	h := &handler{assets: map[string]asset{}}
	var index []byte
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		if name == "index.html" {
			index = body
			return nil
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok && path.Base(name) == "LICENSE" {
			ct, ok = contentTypes[".txt"], true
		}
		if !ok {
			return fmt.Errorf("%s: no content type for its extension", p)
		}
		h.assets[name] = newAsset(body, ct)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if index == nil {
		return nil, fmt.Errorf("static/index.html missing")
	}

	// Point the page at the current version of each asset, and give it its
	// default refresh interval.
	for name, a := range h.assets {
		ref := []byte(`"static/` + name + `"`)
		index = bytes.ReplaceAll(index, ref, []byte(`"static/`+name+`?v=`+a.version+`"`))
	}
	ms := max(cfg.refresh.Milliseconds(), 250)
	index = bytes.ReplaceAll(index, []byte("{{refresh_ms}}"), []byte(strconv.FormatInt(ms, 10)))
	h.index = newAsset(index, contentTypes[".html"])

	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /{$}", h.serveIndex)
	h.mux.HandleFunc("GET /static/{name...}", h.serveAsset)
	return h, nil
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	hexSum := hex.EncodeToString(sum[:])
	return asset{body: body, contentType: contentType, etag: `"` + hexSum[:32] + `"`, version: hexSum[:12]}
}

// ServeHTTP sets the security headers on every answer, errors included, and
// dispatches.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	serve(w, r, h.index, "no-cache")
}

func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	cache := "no-cache"
	if r.URL.Query().Get("v") == a.version {
		cache = "public, max-age=31536000, immutable"
	}
	serve(w, r, a, cache)
}

// serve writes a with its headers; http.ServeContent answers conditional
// (If-None-Match), HEAD and range requests.
func serve(w http.ResponseWriter, r *http.Request, a asset, cacheControl string) {
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", cacheControl)
	hd.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
