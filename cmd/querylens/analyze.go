package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/querylens/querylens/capture"
	"github.com/querylens/querylens/protocol"
	"github.com/querylens/querylens/report"
	"github.com/querylens/querylens/stats"
)

// analyzeOptions is the command line of `querylens analyze`.
type analyzeOptions struct {
	files       []string
	ports       []string
	servers     []string
	snapshot    string
	maxSQLBytes int
	maxDigests  int
	progress    string
	report      report.Config
	format      string
	sort        string
	schema      string
	filter      bool // --schema given
}

func analyzeFlags(o *analyzeOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("querylens analyze", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&listFlag{vals: &o.ports}, "port", "server `port`(s) whose connections are analysed; repeat or comma-separate (default 3306)")
	fs.Var(&listFlag{vals: &o.servers}, "server", "analyse only this server: `host:port`, or a host with the --port ports; repeat or comma-separate")
	fs.StringVar(&o.snapshot, "snapshot", "", "write the statistics to this `file` (a snapshot `querylens report FILE` reads and merges) instead of printing a report")
	fs.IntVar(&o.maxSQLBytes, "max-sql-bytes", 64<<10, "statement text kept per command for fingerprinting, in `bytes`")
	fs.IntVar(&o.maxDigests, "max-digests", stats.DefaultMaxDigests, "distinct (fingerprint, schema) pairs tracked; more fold into one overflow entry")
	fs.StringVar(&o.progress, "progress", "auto", "progress bar on stderr: `auto` (when stderr is a terminal), on or off")
	fs.StringVar(&o.format, "format", "text", "report `format`: text, json or markdown")
	fs.IntVar(&o.report.Top, "top", report.DefaultTop, "list the top `N` entries")
	fs.StringVar(&o.sort, "sort", report.DefaultSort, "rank entries by `key`: total_time, count, mean, p95, p99, errors, rows_sent, max")
	fs.StringVar(&o.schema, "schema", "", "keep only statements run in this default `schema` (exact; empty: without one)")
	fs.StringVar(&o.report.Query, "q", "", "keep only fingerprints containing this `text` (case-insensitive)")
	return fs
}

// parseAnalyze parses the command line; flags and FILEs may be interleaved.
func parseAnalyze(args []string) (*analyzeOptions, capture.Config, error) {
	o := &analyzeOptions{}
	var cfg capture.Config
	fs := analyzeFlags(o)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, cfg, err
			}
			return nil, cfg, &usageError{err.Error()}
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
	bad := func(name, format string, a ...any) error {
		return &usageError{fmt.Sprintf("invalid value for flag -%s: %s", name, fmt.Sprintf(format, a...))}
	}
	fs.Visit(func(f *flag.Flag) { o.filter = o.filter || f.Name == "schema" })
	if len(o.files) == 0 {
		return nil, cfg, &usageError{"no capture to analyse: give one or more pcap or pcapng FILEs"}
	}
	for _, p := range o.ports {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, cfg, bad("port", "%q is not a TCP port (1-65535)", p)
		}
		cfg.Ports = append(cfg.Ports, uint16(n))
	}
	for _, s := range o.servers {
		ap, err := parseServer(s)
		if err != nil {
			return nil, cfg, bad("server", "%q: want host:port or an IP address", s)
		}
		cfg.Servers = append(cfg.Servers, ap)
	}
	if o.maxSQLBytes < 1 {
		return nil, cfg, bad("max-sql-bytes", "want a positive number of bytes")
	}
	if o.maxDigests < 1 {
		return nil, cfg, bad("max-digests", "want a positive number")
	}
	switch o.progress {
	case "auto", "on", "off":
	default:
		return nil, cfg, bad("progress", "want auto, on or off")
	}
	if o.report.Top < 1 {
		return nil, cfg, bad("top", "want a whole number of at least 1")
	}
	o.report.Format = report.Format(o.format)
	o.report.Sort = o.sort
	o.report.Schema, o.report.FilterSchema = o.schema, o.filter
	if err := o.report.Validate(); err != nil {
		return nil, cfg, &usageError{"invalid value for flag -" + err.Error()}
	}
	cfg.MaxSQLBytes = o.maxSQLBytes
	return o, cfg, nil
}

// parseServer reads host:port or a bare IP address (port 0: any --port).
func parseServer(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a.Unmap(), 0), nil
}

// analyze is `querylens analyze`: it reads the captures, feeds a statistics
// engine from the MySQL connections in them, and prints a report (or
// writes a snapshot). A one-line summary of what was read goes to stderr.
func analyze(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, ccfg, err := parseAnalyze(args)
	if errors.Is(err, flag.ErrHelp) {
		return analyzeUsage(stdout)
	}
	if err != nil {
		return err
	}

	// Check every file first, so that a wrong argument fails at once, and
	// take the start of the statistics from the first packet.
	var total int64
	var first time.Time
	for _, name := range o.files {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("capture: %w", err)
		}
		t, err := capture.FirstPacketTime(f)
		if fi, serr := f.Stat(); serr == nil {
			total += fi.Size()
		}
		f.Close()
		if err != nil && !errors.Is(err, capture.ErrTruncated) {
			return fmt.Errorf("capture %s: %w", name, err)
		}
		if first.IsZero() || (!t.IsZero() && t.Before(first)) {
			first = t
		}
	}

	var engine *stats.Engine
	ccfg.OnClose = func(client string, id uint32, at time.Time) {
		_ = engine.ObserveCloseWait(ctx, client, id, at) // ends the connection's units of work
	}
	an := capture.New(ccfg, func(ev *protocol.Event) {
		// Waits for room rather than dropping: a capture can be read as
		// slowly as the statistics need. It fails only when ctx ends, and
		// then the read loop stops too.
		_ = engine.ObserveWait(ctx, ev)
	})
	clock := func() time.Time {
		if t := an.Now(); !t.IsZero() {
			return t
		}
		return first
	}
	// Capture time, never the wall clock: snapshots are stamped with the
	// latest packet read.
	engine, err = stats.New(stats.Config{MaxDigests: o.maxDigests, Now: clock,
		Findings: stats.FindingsConfig{EventTime: true}}, nil)
	if err != nil {
		return err
	}
	engineCtx, stopEngine := context.WithCancel(context.Background())
	engineDone := make(chan struct{})
	go func() { engine.Run(engineCtx); close(engineDone) }()
	defer func() { stopEngine(); <-engineDone }()

	stopBar := startProgress(o.progress, stderr, total, an)
	began := time.Now() // for the reading rate shown, nothing else
	var readErr error   // the first truncated file: reported after the report
	truncated := 0
	for _, name := range o.files {
		if err := readCapture(ctx, an, name); err != nil {
			if !errors.Is(err, capture.ErrTruncated) {
				stopBar()
				return err
			}
			if truncated++; readErr == nil {
				readErr = err
			}
		}
	}
	if truncated > 1 {
		readErr = fmt.Errorf("%w (and %d more truncated files)", readErr, truncated-1)
	}
	an.Close()
	stopBar()
	if err := engine.Flush(ctx); err != nil {
		return err
	}
	// Stopping the engine ends the units of work still open at the end of
	// the capture, so that the final snapshot holds all their findings.
	stopEngine()
	<-engineDone
	fmt.Fprintln(stderr, summaryLine(an.Stats(), time.Since(began)))

	snap := engine.Snapshot()
	if o.snapshot != "" {
		if err := saveState(snap, o.snapshot); err != nil {
			return fmt.Errorf("snapshot (flag -snapshot): %w", err)
		}
	} else {
		o.report.Sources = o.files
		if err := report.Write(stdout, snap, o.report); err != nil {
			return err
		}
	}
	return readErr
}

// readCapture analyses one file.
func readCapture(ctx context.Context, an *capture.Analyzer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	defer f.Close()
	if err := an.Read(ctx, f); err != nil {
		return fmt.Errorf("capture %s: %w", name, err)
	}
	return nil
}

// summaryLine says what was read, in one line.
func summaryLine(s capture.Stats, took time.Duration) string {
	rate := ""
	if secs := took.Seconds(); secs > 0 {
		rate = fmt.Sprintf(", %.1f MB/s", float64(s.Bytes)/1e6/secs)
	}
	return fmt.Sprintf("querylens analyze: %d packets (%s) in %d file(s)%s: %d TCP flows, %d MySQL connections (%d joined mid-stream), %d TLS connections (not decoded), %d gaps, %d desyncs, %d retransmitted segments, %d events",
		s.Packets, mib(s.Bytes), s.Files, rate, s.Flows, s.MySQLConns, s.Midstream, s.TLSConns, s.Gaps, s.Desyncs, s.Retransmits, s.Events)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// startProgress draws a progress bar on stderr, when it is a terminal (or
// mode is "on"), until the returned func is called.
func startProgress(mode string, stderr io.Writer, total int64, an *capture.Analyzer) (stop func()) {
	if mode == "off" || total <= 0 || (mode == "auto" && !isTerminal(stderr)) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	began := time.Now()
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(stderr, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprint(stderr, "\r"+progressBar(an.BytesRead(), total, time.Since(began)))
			}
		}
	}()
	return sync.OnceFunc(func() { close(done); wg.Wait() })
}

// progressBar renders one line: a bar, the share read, the bytes and rate.
func progressBar(n, total int64, took time.Duration) string {
	const width = 30
	frac := min(float64(n)/float64(total), 1)
	full := int(frac * width)
	rate := 0.0
	if s := took.Seconds(); s > 0 {
		rate = float64(n) / 1e6 / s
	}
	return fmt.Sprintf("[%s%s] %3.0f%% %s of %s, %.0f MB/s\033[K",
		strings.Repeat("=", full), strings.Repeat(" ", width-full), 100*frac, mib(n), mib(total), rate)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func analyzeUsage(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`Usage: querylens analyze [flags] FILE...

Analyse tcpdump captures (pcap, pcapng, gzipped pcap) of MySQL/MariaDB
traffic offline: the same decoder as the proxy, the same statistics, the
same report as querylens report. Several files (a rotated capture) are read
in order as one capture. Record with, for example:

  tcpdump -i any -s 0 -w mysql.pcap 'tcp port 3306'
  querylens analyze mysql.pcap
  querylens analyze --format json --port 3306,3307 a.pcap b.pcap
  querylens analyze --snapshot monday.json mysql.pcap; querylens report monday.json

TLS connections are counted, not decoded. Connections that started before
the capture are decoded from their first complete command on.

Flags:
`)
	fs := analyzeFlags(&analyzeOptions{})
	fs.SetOutput(&b)
	fs.PrintDefaults()
	_, err := io.WriteString(w, b.String())
	return err
}
