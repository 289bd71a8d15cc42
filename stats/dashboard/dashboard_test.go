package dashboard_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/stats/dashboard"
)

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	return string(b)
}

// assetRef finds the versioned reference of an asset in the index.
func assetRef(t *testing.T, index, name string) string {
	t.Helper()
	m := regexp.MustCompile(`"(static/` + regexp.QuoteMeta(name) + `\?v=[0-9a-f]{12})"`).FindStringSubmatch(index)
	require.NotNil(t, m, "index does not reference %s with a version", name)
	return m[1]
}

func TestIndexHeaders(t *testing.T) {
	h := dashboard.Handler()
	r := get(t, h, "GET", "/")
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", r.Header.Get("Content-Type"))
	assert.Equal(t, dashboard.ContentSecurityPolicy, r.Header.Get("Content-Security-Policy"))
	assert.Equal(t, "no-cache", r.Header.Get("Cache-Control"))
	assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "DENY", r.Header.Get("X-Frame-Options"))
	assert.NotEmpty(t, r.Header.Get("ETag"))
	idx := body(t, r)
	assert.Contains(t, idx, "<table id=\"digests\"")
	assert.Contains(t, idx, `content="2000"`, "default refresh interval")
	assert.NotContains(t, idx, "{{", "template placeholder left in the page")

	// The CSP allows nothing but the page's own origin.
	csp := dashboard.ContentSecurityPolicy
	assert.Contains(t, csp, "default-src 'none'")
	assert.Contains(t, csp, "script-src 'self';")
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.NotContains(t, csp, "unsafe")
	assert.NotContains(t, csp, "http")
	assert.NotContains(t, csp, "*")

	// Revalidation with the ETag.
	r2 := get(t, h, "GET", "/", "If-None-Match", r.Header.Get("ETag"))
	assert.Equal(t, http.StatusNotModified, r2.StatusCode)

	// HEAD works like GET without a body.
	r3 := get(t, h, "HEAD", "/")
	assert.Equal(t, http.StatusOK, r3.StatusCode)
	assert.Empty(t, body(t, r3))
}

func TestWithRefresh(t *testing.T) {
	idx := body(t, get(t, dashboard.Handler(dashboard.WithRefresh(5*time.Second)), "GET", "/"))
	assert.Contains(t, idx, `name="querylens-refresh" content="5000"`)
	idx = body(t, get(t, dashboard.Handler(dashboard.WithRefresh(time.Millisecond)), "GET", "/"))
	assert.Contains(t, idx, `name="querylens-refresh" content="250"`, "clamped to the minimum")
}

func TestAssets(t *testing.T) {
	h := dashboard.Handler()
	idx := body(t, get(t, h, "GET", "/"))
	for name, ct := range map[string]string{
		"app.js":      "text/javascript; charset=utf-8",
		"style.css":   "text/css; charset=utf-8",
		"favicon.svg": "image/svg+xml",
	} {
		t.Run(name, func(t *testing.T) {
			ref := assetRef(t, idx, name)
			r := get(t, h, "GET", "/"+ref)
			require.Equal(t, http.StatusOK, r.StatusCode)
			assert.Equal(t, ct, r.Header.Get("Content-Type"))
			assert.Equal(t, "public, max-age=31536000, immutable", r.Header.Get("Cache-Control"))
			assert.Equal(t, dashboard.ContentSecurityPolicy, r.Header.Get("Content-Security-Policy"))
			want, err := os.ReadFile(filepath.Join("static", name))
			require.NoError(t, err)
			assert.Equal(t, string(want), body(t, r))

			// Without the current version, the asset revalidates.
			r = get(t, h, "GET", "/static/"+name+"?v=000000000000")
			require.Equal(t, http.StatusOK, r.StatusCode)
			assert.Equal(t, "no-cache", r.Header.Get("Cache-Control"))
			r = get(t, h, "GET", "/static/"+name, "If-None-Match", r.Header.Get("ETag"))
			assert.Equal(t, http.StatusNotModified, r.StatusCode)
		})
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	h := dashboard.Handler()
	for _, p := range []string{"/nope", "/static/", "/static/nope.js", "/static/../dashboard.go", "/index.html", "/static/index.html", "/api/v1/digests"} {
		r := get(t, h, "GET", p)
		// Unclean paths are redirected to their clean form first.
		assert.Contains(t, []int{http.StatusNotFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect}, r.StatusCode, p)
		if r.StatusCode == http.StatusNotFound {
			assert.Equal(t, dashboard.ContentSecurityPolicy, r.Header.Get("Content-Security-Policy"), p)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		r := get(t, h, m, "/")
		assert.Equal(t, http.StatusMethodNotAllowed, r.StatusCode, m)
	}
}

// TestMountedBesideTheAPI mounts the handler at "/" of a mux that also
// serves /api/ and /metrics, as cmd/querylens does: the more specific
// patterns keep their paths.
func TestMountedBesideTheAPI(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "metrics") }))
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "api") }))
	mux.Handle("/", dashboard.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, want := range map[string]string{"/metrics": "metrics", "/api/v1/digests": "api", "/api/v1/reset": "api"} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		assert.Equal(t, want, body(t, resp), path)
		resp.Body.Close()
	}
	resp, err := http.Post(srv.URL+"/api/v1/reset", "", nil)
	require.NoError(t, err)
	assert.Equal(t, "api", body(t, resp))
	resp.Body.Close()
	resp, err = http.Get(srv.URL + "/")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body(t, resp), "querylens")
	resp.Body.Close()
}

// urlPattern matches an absolute or protocol-relative URL.
var urlPattern = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)

// svgNamespace is the SVG namespace name: an identifier that SVG and
// createElementNS require, never fetched.
const svgNamespace = "http://www.w3.org/2000/svg"

// TestNoExternalURLs scans every embedded asset for URLs of other origins
// (comments and license files excepted): the page must work offline and
// the CSP would block them anyway.
func TestNoExternalURLs(t *testing.T) {
	n := 0
	err := fs.WalkDir(os.DirFS("static"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(filepath.Base(p), "LICENSE") {
			return nil
		}
		b, err := os.ReadFile(filepath.Join("static", p))
		if err != nil {
			return err
		}
		n++
		text := stripComments(string(b), filepath.Ext(p))
		text = strings.ReplaceAll(text, svgNamespace, "")
		for _, m := range urlPattern.FindAllString(text, -1) {
			t.Errorf("%s: external URL %q", p, m)
		}
		for _, bad := range []string{"http://", "https://"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s: contains %q", p, bad)
			}
		}
		return nil
	})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 4, "index, script, style sheet, icon")
}

var (
	blockComment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	htmlComment  = regexp.MustCompile(`(?s)<!--.*?-->`)
	// A // comment: at the start of a line or after whitespace, so that
	// "a//b" inside a string or a regular expression stays.
	lineComment = regexp.MustCompile(`(?m)(^|\s)//.*$`)
)

func stripComments(s, ext string) string {
	switch ext {
	case ".js":
		return lineComment.ReplaceAllString(blockComment.ReplaceAllString(s, ""), "$1")
	case ".css":
		return blockComment.ReplaceAllString(s, "")
	case ".html", ".svg":
		return htmlComment.ReplaceAllString(s, "")
	}
	return s
}

// TestStripComments makes sure the scanner above is not blind: a URL in
// code is still seen.
func TestStripComments(t *testing.T) {
	js := "// see https://example.com\nfetch('https://cdn.example.com/x.js'); /* https://a.b */"
	out := stripComments(js, ".js")
	assert.Equal(t, []string{"https://cdn.example.com"}, urlPattern.FindAllString(out, -1))
	css := "/* https://a.b */ @import url(//fonts.example.com/x.css);"
	assert.Equal(t, []string{"//fonts.example.com"}, urlPattern.FindAllString(stripComments(css, ".css"), -1))
}
