package report_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/report"
	"github.com/querylens/querylens/stats"
)

// TestGolden renders the workload's snapshot, read from stdin, in every
// format and with the selection flags, and compares with
// testdata/NAME.golden (go test -update rewrites them).
func TestGolden(t *testing.T) {
	e := newEngine(t, workload(), engineOpts{maxDigests: workloadKeys, dropped: 2})
	snap := snapshotJSON(t, e)
	empty := snapshotJSON(t, newEngine(t, nil, engineOpts{}))
	odd := snapshotJSON(t, newEngine(t, oddities(), engineOpts{logLiterals: true}))

	for _, tc := range []struct {
		name  string
		input []byte
		args  []string
	}{
		{"text", snap, nil},
		{"markdown", snap, []string{"--format", "markdown"}},
		{"json", snap, []string{"--format=json"}},
		{"text-errors-top3", snap, []string{"--sort", "errors", "--top", "3"}},
		{"text-filter", snap, []string{"--schema", "shop", "--q", "ITEMS", "--top", "1"}},
		{"markdown-filter", snap, []string{"--format", "markdown", "--q", "customers", "--sort", "p99"}},
		{"json-filter", snap, []string{"--format", "json", "--schema", "shop_eu", "--sort", "count", "--top", "2"}},
		{"json-no-schema", snap, []string{"--format", "json", "--schema", ""}},
		{"text-empty", empty, nil},
		{"text-oddities", odd, nil},
		{"markdown-oddities", odd, []string{"--format", "markdown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runReport(t, tc.input, append(tc.args, "-")...)
			require.NoError(t, err)
			assert.Empty(t, stderr)
			golden(t, tc.name, stdout)
		})
	}
}

// TestJSONIsTheAPIDocument checks that --format json prints a
// stats.DigestList with the API's selection semantics.
func TestJSONIsTheAPIDocument(t *testing.T) {
	e := newEngine(t, workload(), engineOpts{maxDigests: workloadKeys})
	stdout, _, err := runReport(t, snapshotJSON(t, e), "--format", "json", "--sort", "count", "--top", "3", "-")
	require.NoError(t, err)

	var list stats.DigestList
	require.NoError(t, json.Unmarshal([]byte(stdout), &list))
	assert.Equal(t, stats.SnapshotVersion, list.Version)
	assert.Equal(t, workloadKeys, list.Tracked)
	assert.Equal(t, workloadKeys, list.Total)
	require.Len(t, list.Digests, 3)
	for i := 1; i < len(list.Digests); i++ {
		assert.GreaterOrEqual(t, list.Digests[i-1].Count, list.Digests[i].Count)
	}
	assert.Equal(t, uint64(3), list.Overflow.Count, "the three rare statements")
	assert.Equal(t, e.Snapshot().Events, list.Events)
}

// TestMergeEqualsOneProxy is the acceptance test: merging the snapshots of
// two proxies, read from files, gives the same report as one proxy that
// saw both workloads.
func TestMergeEqualsOneProxy(t *testing.T) {
	evs := workload()
	var a, b []*protocol.Event
	for i, e := range evs {
		// Both halves see most keys, so entries really merge. Each half
		// is one client connection, to the one proxy as to its own: units
		// of work, and so findings, are per connection.
		if i%3 == 0 {
			e.ClientAddr = "127.0.0.1:40001"
			a = append(a, e)
		} else {
			b = append(b, e)
		}
	}
	// Each event goes to one engine only: the engine owns it.
	copyAll := func(evs []*protocol.Event) []*protocol.Event {
		out := make([]*protocol.Event, len(evs))
		for i, e := range evs {
			c := *e
			out[i] = &c
		}
		return out
	}
	one := writeFile(t, "one.json", snapshotJSON(t, newEngine(t, copyAll(evs), engineOpts{maxDigests: 100})))
	fileA := writeFile(t, "a.json", snapshotJSON(t, newEngine(t, copyAll(a), engineOpts{maxDigests: 100})))
	fileB := writeFile(t, "b.json", snapshotJSON(t, newEngine(t, copyAll(b), engineOpts{maxDigests: 100})))

	for _, format := range []string{"text", "markdown", "json"} {
		t.Run(format, func(t *testing.T) {
			want, _, err := runReport(t, nil, "--format", format, "--top", "50", one)
			require.NoError(t, err)
			got, stderr, err := runReport(t, nil, "--format", format, "--top", "50", fileA, fileB)
			require.NoError(t, err)
			assert.Empty(t, stderr)
			assert.Equal(t, withoutSources(want), withoutSources(got))
			assert.Greater(t, strings.Count(want, "\n"), 20)
		})
	}

	// The same file twice is counted twice, with a warning.
	_, stderr, err := runReport(t, nil, fileA, fileA)
	require.NoError(t, err)
	assert.Contains(t, stderr, "hold the same snapshot")
}

// TestInterleavedArguments accepts FILEs before, between and after flags,
// and "--" before FILEs that start with a dash.
func TestInterleavedArguments(t *testing.T) {
	snap := snapshotJSON(t, newEngine(t, workload(), engineOpts{maxDigests: workloadKeys}))
	file := writeFile(t, "s.json", snap)
	want, _, err := runReport(t, nil, "--format", "json", "--top", "2", file)
	require.NoError(t, err)
	got, _, err := runReport(t, nil, file, "--format", "json", "--top", "2")
	require.NoError(t, err)
	assert.Equal(t, want, got)

	dashed := writeFile(t, "-dashed.json", snap)
	got, _, err = runReport(t, nil, "--format", "json", "--top", "2", "--", dashed)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestHelp(t *testing.T) {
	stdout, _, err := runReport(t, nil, "-h")
	require.NoError(t, err)
	for _, f := range []string{"-from", "-format", "-top", "-sort", "-schema", "-q", "-timeout"} {
		assert.Contains(t, stdout, "  "+f+" ")
	}
	assert.True(t, strings.HasPrefix(stdout, "Usage: querylens report"))
	for _, def := range []string{"(default text)", "(default 20)", "(default total_time)", "(default 10s)"} {
		assert.Contains(t, stdout, def)
	}
}

func TestWriteDefaults(t *testing.T) {
	var b strings.Builder
	require.NoError(t, report.Write(&b, nil, report.Config{}))
	assert.Contains(t, b.String(), "# Profile by total_time")

	err := report.Write(&b, nil, report.Config{Sort: "nope"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sort:")
}

// TestFindingsGolden renders the findings of a snapshot: ranked by time,
// with source, rewrite, related statements and attributions; a finding
// seen in too few of its statement's units (a coincidence) is left out.
func TestFindingsGolden(t *testing.T) {
	for _, format := range []string{"text", "markdown", "json"} {
		t.Run(format, func(t *testing.T) {
			out, stderr, err := runReport(t, nil, "--format", format, "testdata/findings-snapshot.json")
			require.NoError(t, err, stderr)
			assert.NotContains(t, out, "sbtest1", "3 of 300 units is a coincidence")
			golden(t, "findings-"+format, out)
		})
	}
	out, _, err := runReport(t, nil, "--schema", "crash", "testdata/findings-snapshot.json")
	require.NoError(t, err)
	assert.Contains(t, out, "report_uuid")
	assert.NotContains(t, out, "feeds", "filtered by schema")
	assert.NotContains(t, out, "opened 12 connections", "churn names no statement: not in a schema")
}
