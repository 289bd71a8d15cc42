package report

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/querylens/querylens/stats"
)

// Format is an output format of Write.
type Format string

// Formats.
const (
	FormatText     Format = "text"
	FormatJSON     Format = "json"
	FormatMarkdown Format = "markdown"
)

// Defaults of Config and of the command's flags.
const (
	DefaultTop     = 20
	DefaultSort    = "total_time"
	DefaultTimeout = 10 * time.Second
)

// sortKeys are the keys of GET /api/v1/digests?sort=, with the same
// meaning; every order is descending.
var sortKeys = map[string]func(*stats.DigestStats) float64{
	"total_time": func(d *stats.DigestStats) float64 { return d.LatencyHistogram.Sum().Seconds() },
	"count":      func(d *stats.DigestStats) float64 { return float64(d.Count) },
	"mean":       func(d *stats.DigestStats) float64 { return d.Latency.Mean },
	"p95":        func(d *stats.DigestStats) float64 { return d.Latency.P95 },
	"p99":        func(d *stats.DigestStats) float64 { return d.Latency.P99 },
	"errors":     func(d *stats.DigestStats) float64 { return float64(d.Errors) },
	"rows_sent":  func(d *stats.DigestStats) float64 { return float64(d.RowsSent) },
	"max":        func(d *stats.DigestStats) float64 { return d.Latency.Max },
}

// sortNames lists the sort keys for messages, in the API's order.
const sortNames = "total_time, count, mean, p95, p99, errors, rows_sent, max"

// Config selects and shapes a report. The zero value of each field means
// its default, so Config{} is valid.
type Config struct {
	// Format is the output format. Default FormatText.
	Format Format
	// Top is how many entries the profile, the details and the JSON list
	// show. Default DefaultTop.
	Top int
	// Sort ranks the entries: a key of GET /api/v1/digests (total_time,
	// count, mean, p95, p99, errors, rows_sent, max), descending, ties by
	// digest then schema. Default DefaultSort.
	Sort string
	// FilterSchema keeps only the entries whose default schema is Schema;
	// with Schema empty, those of statements run without a default schema.
	FilterSchema bool
	Schema       string
	// Query keeps only the entries whose fingerprint contains it,
	// case-insensitively. Empty keeps all.
	Query string
	// Sources names the snapshots the report was built from (URLs, file
	// names); the text and markdown headers list them. Informational.
	Sources []string
}

// DefaultConfig returns the configuration Write uses for zero fields.
func DefaultConfig() Config {
	return Config{Format: FormatText, Top: DefaultTop, Sort: DefaultSort}
}

func (c Config) withDefaults() Config {
	if c.Format == "" {
		c.Format = FormatText
	}
	if c.Top == 0 {
		c.Top = DefaultTop
	}
	if c.Sort == "" {
		c.Sort = DefaultSort
	}
	return c
}

// Validate reports the first field that holds an invalid value, naming
// the flag that sets it.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := validFormat(string(c.Format)); err != nil {
		return fmt.Errorf("format: %w", err)
	}
	if c.Top < 0 {
		return fmt.Errorf("top: %d is negative", c.Top)
	}
	if _, ok := sortKeys[c.Sort]; !ok {
		return fmt.Errorf("sort: %w", errSortKey(c.Sort))
	}
	return nil
}

func validFormat(s string) error {
	switch Format(s) {
	case FormatText, FormatJSON, FormatMarkdown:
		return nil
	}
	return fmt.Errorf("%q is not one of text, json, markdown", s)
}

func errSortKey(s string) error {
	return fmt.Errorf("unknown key %q; want one of %s", s, sortNames)
}

// Write renders the report of s in cfg.Format to w.
func Write(w io.Writer, s *stats.Snapshot, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	if s == nil {
		s = stats.Merge()
	}
	switch cfg.Format {
	case FormatJSON:
		return writeJSON(w, s, cfg)
	case FormatMarkdown:
		return writeMarkdown(w, newModel(s, cfg))
	default:
		return writeText(w, newModel(s, cfg))
	}
}

// UsageError is a mistake on the command line: an unknown flag, a bad
// value, a missing source. The command exits with status 2 on it.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Run is the `querylens report` command: it reads the snapshots named by
// args (--from URLs and FILE arguments, "-" for stdin), merges them and
// writes the report to stdout. Warnings (such as the same snapshot given
// twice) go to stderr. -h prints the usage to stdout and returns nil.
//
// Command-line mistakes are returned as *UsageError, one line naming the
// flag; sources that cannot be read are other errors naming the source.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, args, os.Stdin, stdout, stderr)
}

// options is the parsed command line.
type options struct {
	cfg     Config
	from    []string // snapshot URLs, in order
	files   []string // snapshot files, "-" for stdin
	timeout time.Duration
}

// TokenEnv names the environment variable whose value, when set, is sent
// as the bearer token to --from proxies (the proxy's --http-token).
const TokenEnv = "QUERYLENS_HTTP_TOKEN"

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	opts, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		return writeUsage(stdout)
	}
	if err != nil {
		return err
	}

	transport := http.DefaultTransport.(*http.Transport).Clone()
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: opts.timeout}

	var snaps []*stats.Snapshot
	var names []string
	for _, u := range opts.from {
		s, err := Fetch(ctx, client, u, os.Getenv(TokenEnv))
		if err != nil {
			return err
		}
		snaps, names = append(snaps, s), append(names, u)
	}
	for _, f := range opts.files {
		s, err := readFile(f, stdin)
		if err != nil {
			return err
		}
		name := f
		if f == "-" {
			name = "stdin"
		}
		snaps, names = append(snaps, s), append(names, name)
	}
	warnDuplicates(stderr, snaps, names)

	opts.cfg.Sources = names
	return Write(stdout, stats.Merge(snaps...), opts.cfg)
}

// warnDuplicates warns when two sources hold the same snapshot (same
// publication of the same engine, most likely the same file twice):
// merging counts it twice.
func warnDuplicates(stderr io.Writer, snaps []*stats.Snapshot, names []string) {
	for i, a := range snaps {
		for j := i + 1; j < len(snaps); j++ {
			b := snaps[j]
			if a.Seq != 0 && a.Seq == b.Seq && a.Taken.Equal(b.Taken) && a.Since.Equal(b.Since) && a.Events == b.Events {
				fmt.Fprintf(stderr, "querylens report: warning: %s and %s hold the same snapshot (seq %d, taken %s); it is counted twice\n",
					names[i], names[j], a.Seq, fmtTime(a.Taken))
			}
		}
	}
}

func readFile(name string, stdin io.Reader) (*stats.Snapshot, error) {
	if name == "-" {
		s, err := ReadSnapshot(stdin)
		if err != nil {
			return nil, fmt.Errorf("snapshot from stdin: %w", err)
		}
		return s, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("snapshot file: %w", err)
	}
	defer f.Close()
	s, err := ReadSnapshot(f)
	if err != nil {
		return nil, fmt.Errorf("snapshot file %s: %w", name, err)
	}
	return s, nil
}

// newOptions returns the options of an empty command line.
func newOptions() *options { return &options{cfg: DefaultConfig(), timeout: DefaultTimeout} }

// newFlagSet declares the command's flags into o.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("querylens report", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var((*urlList)(&o.from), "from", "fetch the snapshot of the proxy at this `URL` (its HTTP base, e.g. http://127.0.0.1:9104); repeat or comma-separate for several")
	fs.Var((*formatValue)(&o.cfg.Format), "format", "output `format`: text, json or markdown")
	fs.Var((*topValue)(&o.cfg.Top), "top", "list the top `N` entries")
	fs.Var((*sortValue)(&o.cfg.Sort), "sort", "rank entries by `key`: "+sortNames+" (descending)")
	fs.StringVar(&o.cfg.Schema, "schema", "", "keep only statements run in this default `schema` (exact; empty: without one)")
	fs.StringVar(&o.cfg.Query, "q", "", "keep only fingerprints containing this `text` (case-insensitive)")
	fs.Var((*timeoutValue)(&o.timeout), "timeout", "give up fetching a --from snapshot after this `duration`")
	return fs
}

// parseArgs parses the command line. Flags and FILE arguments may be
// interleaved; after "--" every argument is a FILE.
func parseArgs(args []string) (*options, error) {
	o := newOptions()
	fs := newFlagSet(o)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &UsageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			o.files = append(o.files, rest...)
			break
		}
		o.files, args = append(o.files, rest[0]), rest[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "schema" {
			o.cfg.FilterSchema = true
		}
	})
	if i := slices.Index(o.files, "-"); i >= 0 && slices.Contains(o.files[i+1:], "-") {
		return nil, &UsageError{"stdin (-) can be read only once"}
	}
	if len(o.from) == 0 && len(o.files) == 0 {
		return nil, &UsageError{"no snapshot to report on: give --from URL or a snapshot FILE (- for stdin)"}
	}
	return o, nil
}

func writeUsage(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`Usage: querylens report [flags] [FILE ...]

Report on the statements seen by one or more querylens proxies, in the
manner of pt-query-digest. Sources are snapshots: fetched from running
proxies with --from, or FILEs saved from GET /api/v1/snapshot or written
as a --state-file ("-" reads stdin). Several sources are merged exactly.

  querylens report --from http://127.0.0.1:9104
  querylens report --from http://db1:9104,http://db2:9104 --sort p99 --top 10
  curl -s http://127.0.0.1:9104/api/v1/snapshot > before.json
  querylens report --format markdown before.json

A proxy whose stats endpoint asks for a token (--http-token) gets it from
the environment variable QUERYLENS_HTTP_TOKEN.

Flags:
`)
	fs := newFlagSet(newOptions())
	fs.SetOutput(&b)
	fs.PrintDefaults()
	_, err := io.WriteString(w, b.String())
	return err
}

// The flag values below print their zero value for nil receivers, so
// that PrintDefaults shows the real defaults.

// urlList is the --from flag: repeatable, comma-separated.
type urlList []string

func (l *urlList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *urlList) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := SnapshotURL(part)
		if err != nil {
			return err
		}
		*l = append(*l, u)
	}
	return nil
}

type formatValue Format

func (f *formatValue) String() string {
	if f == nil {
		return ""
	}
	return string(*f)
}

func (f *formatValue) Set(v string) error {
	if err := validFormat(v); err != nil {
		return errors.New("want text, json or markdown")
	}
	*f = formatValue(v)
	return nil
}

type topValue int

func (t *topValue) String() string {
	if t == nil {
		return "0"
	}
	return strconv.Itoa(int(*t))
}

func (t *topValue) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return errors.New("want a whole number of at least 1")
	}
	*t = topValue(n)
	return nil
}

type sortValue string

func (s *sortValue) String() string {
	if s == nil {
		return ""
	}
	return string(*s)
}

func (s *sortValue) Set(v string) error {
	if _, ok := sortKeys[v]; !ok {
		return fmt.Errorf("want one of %s", sortNames)
	}
	*s = sortValue(v)
	return nil
}

type timeoutValue time.Duration

func (t *timeoutValue) String() string {
	if t == nil {
		return "0s"
	}
	return time.Duration(*t).String()
}

func (t *timeoutValue) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return errors.New("want a positive duration such as 5s")
	}
	*t = timeoutValue(d)
	return nil
}

// selectEntries returns the entries of s that pass cfg's filters, ranked
// by cfg.Sort (descending, ties by digest then schema) as
// GET /api/v1/digests ranks them.
func selectEntries(s *stats.Snapshot, cfg Config) []*stats.DigestStats {
	text := strings.ToLower(cfg.Query)
	var matched []*stats.DigestStats
	for _, d := range s.Digests {
		if cfg.FilterSchema && d.Schema != cfg.Schema {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(d.Fingerprint), text) {
			continue
		}
		matched = append(matched, d)
	}
	by := sortKeys[cfg.Sort]
	slices.SortStableFunc(matched, func(a, b *stats.DigestStats) int {
		if c := cmp.Compare(by(b), by(a)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Digest, b.Digest); c != 0 {
			return c
		}
		return cmp.Compare(a.Schema, b.Schema)
	})
	return matched
}

// DigestList returns the document GET /api/v1/digests would answer with
// for s and cfg's filters, sort and Top (the API's limit): what
// --format json prints.
func DigestList(s *stats.Snapshot, cfg Config) *stats.DigestList {
	cfg = cfg.withDefaults()
	matched := selectEntries(s, cfg)
	total := len(matched)
	if cfg.Top > 0 && len(matched) > cfg.Top {
		matched = matched[:cfg.Top]
	}
	if matched == nil {
		matched = []*stats.DigestStats{}
	}
	overflow := s.Overflow
	if overflow == nil {
		overflow = stats.Merge().Overflow
	}
	commands, commandErrors := s.Commands, s.CommandErrors
	if commands == nil {
		commands = map[string]uint64{}
	}
	if commandErrors == nil {
		commandErrors = map[string]uint64{}
	}
	return &stats.DigestList{
		Version:       stats.SnapshotVersion,
		Taken:         s.Taken,
		Since:         s.Since,
		Digests:       matched,
		Total:         total,
		Tracked:       len(s.Digests),
		MaxDigests:    s.MaxDigests,
		Overflow:      overflow,
		DroppedEvents: s.DroppedEvents,
		Events:        s.Events,
		Commands:      commands,
		CommandErrors: commandErrors,
	}
}
