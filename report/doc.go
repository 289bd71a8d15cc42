// Package report renders the statistics of one or more querylens proxies as
// a report: `querylens report`.
//
// # Sources
//
// A report reads complete snapshots (stats.Snapshot, JSON, version
// stats.SnapshotVersion): fetched from a running proxy's
// GET /api/v1/snapshot (Fetch), read from a file saved from that endpoint
// or from a proxy's --state-file (ReadSnapshot), or both. Several sources
// are combined with stats.Merge, which adds histograms bucket by bucket: a
// report over the snapshots of two proxies shows the same numbers,
// quantiles included, as one proxy that saw both workloads would. Nothing
// is averaged.
//
// # Formats
//
// Write renders a snapshot in one of three formats:
//
//   - text, modelled on pt-query-digest: an overall summary (time range,
//     statements, fingerprints, QPS, concurrency, latency quantiles, errors,
//     rows, bytes, dropped and overflowed events), a profile of the top
//     entries with their share of the total time, one detail block per top
//     entry (fingerprint, schema, users, kind and tables, commands, latency
//     and time-to-first-byte quantiles, a latency histogram by decade,
//     rows, bytes, errors by code, first and last sighting), and an Errors
//     section;
//   - markdown: the same content as tables, with the fingerprints in fenced
//     SQL blocks, for tickets and postmortems;
//   - json: the stats.DigestList document GET /api/v1/digests answers with,
//     so that scripts written against the API read reports unchanged.
//
// Entries are per (digest, schema), as in the API. Selection follows the
// API as well: --sort takes the same keys (always descending, ties by
// digest then schema), --schema keeps one default schema exactly (present
// but empty: statements run without one), --q keeps fingerprints containing
// a text, case-insensitively. Filters select the entries listed; the
// overall summary always describes the whole snapshot and shares are of its
// total time, so a filtered report still says how much its entries weigh.
// The overflow entry (statements beyond the proxy's --max-digests) has no
// fingerprint or single schema, so it is shown in the summary and at the
// foot of an unfiltered profile, never among the ranked entries.
//
// # Determinism
//
// Output depends only on the snapshot and the Config: maps are printed in
// sorted order and times in UTC, so reports can be compared with golden
// files. Quantiles are histogram estimates within stats.RelativeError;
// counts, sums, minimums and maximums are exact.
//
// # Concurrency and ownership
//
// The functions of this package keep no state between calls and are safe
// for concurrent use. They read the snapshots they are given and never
// modify them.
package report
