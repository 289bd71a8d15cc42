// Package dashboard serves querylens's live dashboard: one HTML page, a
// script and a style sheet, embedded in the binary with go:embed and served
// by Handler.
//
// # What the page shows
//
// A summary strip (statements per second, error rate, p99 latency, open
// client connections, decoder health), the top fingerprints table (sorted by
// total time, count, mean, p95, p99, errors or rows; searchable and
// filterable by schema), a detail view per fingerprint (highlighted
// normalized SQL, latency histogram, time to first byte against total
// time, errors by code, users, tables), the findings panel, and a reset
// button when the API has a reset token.
//
// # What it reads
//
// The page is a client of the same endpoint's public interfaces and of
// nothing else: GET api/v1/digests and api/v1/digests/{digest} (package
// stats), GET api/v1/findings (an empty state is shown while it answers
// 404), GET metrics (the Prometheus text exposition, for
// querylens_connections_open, querylens_decode_errors_total and
// querylens_decoder_panics_total) and POST api/v1/reset. URLs are relative,
// so the page also works behind a reverse proxy that adds a path prefix.
// The dashboard package imports no other querylens package.
//
// # Security
//
// Every answer carries a Content-Security-Policy that allows scripts,
// styles, images and fetches from the page's own origin only, no inline
// script or style, no framing, and Trusted Types (the script never assigns
// HTML strings: it builds the page with DOM calls and textContent, so data
// from the API cannot inject markup). Nothing is loaded from another origin.
// The API token is never part of the page: the user types it when resetting,
// and it is kept in the tab's sessionStorage only.
//
// # Caching
//
// The index is served with "Cache-Control: no-cache" and an ETag. It
// references each asset with a ?v= query holding a hash of the asset's
// content, and an asset requested with its current hash is cacheable for a
// year ("immutable"); any other request for it revalidates with its ETag.
// An upgraded binary therefore never mixes old and new assets.
//
// # Concurrency
//
// The handler holds only immutable data built by Handler and is safe for
// concurrent use.
package dashboard
