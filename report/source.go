package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/querylens/querylens/stats"
)

// SnapshotPath is where a proxy serves its complete snapshot.
const SnapshotPath = "/api/v1/snapshot"

// SnapshotURL turns what a user gives --from into the snapshot's URL. The
// scheme defaults to http ("127.0.0.1:9104"); a URL that does not already
// end in SnapshotPath is taken as the proxy's HTTP base, possibly under a
// prefix ("https://gw/querylens"), and SnapshotPath is appended.
func SnapshotURL(base string) (string, error) {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", base)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: scheme %q, want http or https", base, u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q has no host", base)
	}
	if !strings.HasSuffix(u.Path, SnapshotPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + SnapshotPath
		u.RawPath = ""
	}
	u.Fragment = ""
	return u.String(), nil
}

// maxErrorBody bounds how much of a failed answer is quoted in the error.
const maxErrorBody = 512

// Fetch gets the snapshot at rawURL (see SnapshotURL) with c, which should
// have a timeout, presenting token as "Authorization: Bearer" when it is
// not empty (a proxy whose --http is not loopback asks for it). Errors
// name the URL, never the token.
func Fetch(ctx context.Context, c *http.Client, rawURL, token string) (*stats.Snapshot, error) {
	u, err := SnapshotURL(rawURL)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // it would name the URL a second time
		}
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: %s%s", u, resp.Status, errorDetail(resp.Body))
	}
	s, err := ReadSnapshot(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	return s, nil
}

// errorDetail returns ": " and the reason a failed answer gives: the
// "error" field of the API's JSON errors, else the start of the body.
func errorDetail(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, maxErrorBody))
	var apiErr struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &apiErr) == nil && apiErr.Error != "" {
		return ": " + apiErr.Error
	}
	msg := strings.Join(strings.Fields(string(b)), " ")
	if msg == "" {
		return ""
	}
	return ": " + cut(msg, 120)
}

// ReadSnapshot decodes one JSON stats.Snapshot, as GET /api/v1/snapshot
// serves it and --state-file saves it, and checks that this version of
// querylens reads its version.
func ReadSnapshot(r io.Reader) (*stats.Snapshot, error) {
	// probe recognizes the list document, a likely mix-up: it shares the
	// snapshot's version and entries but holds only the top of the list.
	var probe struct {
		stats.Snapshot
		Tracked *int `json:"tracked"`
	}
	dec := json.NewDecoder(r)
	if err := dec.Decode(&probe); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty: no snapshot")
		}
		return nil, fmt.Errorf("not a querylens snapshot: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not a querylens snapshot: more data after the JSON document")
	}
	s := &probe.Snapshot
	switch {
	case probe.Tracked != nil:
		return nil, fmt.Errorf("a digest list (GET /api/v1/digests), not a snapshot: save GET %s instead", SnapshotPath)
	case s.Version == 0:
		return nil, errors.New("not a querylens snapshot: no version")
	case s.Version != stats.SnapshotVersion:
		return nil, fmt.Errorf("snapshot version %d; this querylens reads version %d", s.Version, stats.SnapshotVersion)
	}
	for i, d := range s.Digests {
		if d == nil {
			return nil, fmt.Errorf("not a querylens snapshot: digests[%d] is null", i)
		}
	}
	return s, nil
}
