//go:build !nodemo

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/querylens/querylens/demo"
	"github.com/querylens/querylens/proxy"
	"github.com/querylens/querylens/report"
	"github.com/querylens/querylens/stats"
)

// demoReportTop is how many statements the exit report details: the
// costliest (the N+1 loop's statement, in the demo), so that the summary,
// the findings and that detail fit one screen.
const demoReportTop = 1

// demoOptions is what `querylens demo` takes besides run's flags.
type demoOptions struct {
	duration time.Duration
}

// demoFlags are run's flags (the demo is run with its own upstream) plus
// --duration. The log level defaults to error: the terminal is for the
// URLs and the report, and the proxy's warning that the upstream offers
// no TLS says nothing about the demo.
func demoFlags(cfg *config, o *demoOptions) *flag.FlagSet {
	fs := runFlags(cfg)
	fs.Init("querylens demo", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long and print the report (0: run until Ctrl-C)")
	cfg.logLevel = "error"
	fs.Lookup("log-level").DefValue = "error"
	// The embedded server has no TLS, so none is offered to clients
	// either; say so rather than warn about it at start.
	cfg.tls = "off"
	fs.Lookup("tls").DefValue = "off"
	return fs
}

// parseDemo parses the demo's command line like parseRun: flags first,
// then the environment for flags not given. --upstream is refused: the
// demo brings its own server.
func parseDemo(args []string) (*config, *demoOptions, error) {
	cfg, o := &config{}, &demoOptions{}
	fs := demoFlags(cfg, o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		return nil, nil, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, nil, &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["upstream"] {
		return nil, nil, &usageError{"flag -upstream is not used by the demo: it runs its own in-memory server (use `querylens run` for a real one)"}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || f.Name == "upstream" || envErr != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = &usageError{fmt.Sprintf("invalid value %q for %s (flag -%s): %v", v, envName(f.Name), f.Name, err)}
			}
		}
	})
	if envErr != nil {
		return nil, nil, envErr
	}
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	if cfg.http == "" {
		return nil, nil, &usageError{"invalid value for flag -http: the demo needs the stats endpoint (its dashboard is the point)"}
	}
	if o.duration < 0 {
		return nil, nil, &usageError{"invalid value for flag -duration: must not be negative (0 runs until Ctrl-C)"}
	}
	return cfg, o, nil
}

func demoUsage(w io.Writer) {
	fmt.Fprintf(w, `querylens demo: querylens in front of an embedded, in-memory MySQL-compatible server,
with a small blog application querying it; no database needed.

Usage:
  querylens demo [--listen ADDR] [--http ADDR] [--duration D] [flags]

Flags (each also read from the environment variable shown):
`)
	fs := demoFlags(&config{}, &demoOptions{})
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "upstream") {
			return // the demo's upstream is its own, in-memory, without TLS
		}
		def := f.DefValue
		if def != "" {
			def = " (default " + def + ")"
		}
		fmt.Fprintf(w, "  --%s\t%s%s [%s]\n", f.Name, f.Usage, def, envName(f.Name))
	})
}

// runDemo is `querylens demo`: the embedded server, the normal serve path
// with --upstream pointing at it, and the blog's workload through the
// proxy. When ctx ends or --duration has passed it stops the workload,
// lets the last units of work end, prints a report of what querylens saw
// and shuts down.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, o, err := parseDemo(args)
	if errors.Is(err, flag.ErrHelp) {
		demoUsage(stdout)
		return nil
	}
	if err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	log = log.Named("demo")

	srv, err := demo.NewServer(ctx)
	if err != nil {
		return err
	}
	defer srv.Close()
	cfg.upstream = srv.Addr()

	// serve gets a context of its own: on Ctrl-C the demo still needs
	// the stats endpoint to read the final snapshot.
	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	served := make(chan error, 1)
	go func() { served <- serve(serveCtx, cfg, stdout, stderr) }()
	stopServing := func() error {
		stopServe()
		return <-served
	}

	api, base, err := demoHTTPClient(cfg.http)
	if err != nil {
		return errors.Join(err, stopServing())
	}
	if ended, err := waitHealthy(ctx, api, base, served); ended {
		return err // serve's own error, naming the flag (a port in use)
	} else if ctx.Err() != nil {
		return stopServing() // stopped while starting: nothing to report
	} else if err != nil {
		return errors.Join(err, stopServing())
	}
	listenNet, listenAddr, err := proxy.SplitAddr(cfg.listen[0])
	if err != nil {
		return errors.Join(err, stopServing())
	}
	printDemoIntro(stdout, cfg, o, srv.Addr(), listenNet, demo.DialAddress(listenNet, listenAddr))

	wctx, stopWorkload := context.WithCancel(ctx)
	defer stopWorkload()
	if o.duration > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(wctx, o.duration)
		defer cancel()
	}
	type result struct {
		st  demo.Stats
		err error
	}
	worked := make(chan result, 1)
	go func() {
		st, err := demo.Run(wctx, demo.WorkloadConfig{Network: listenNet, Address: listenAddr}, log.Named("workload"))
		worked <- result{st, err}
	}()

	var w result
	select {
	case w = <-worked: // ctx ended, --duration passed, or a bad config
	case err := <-served:
		stopWorkload()
		<-worked
		if err == nil {
			err = errors.New("demo: the proxy stopped")
		}
		return err
	}
	if w.err != nil {
		return errors.Join(w.err, stopServing())
	}

	// The last page's unit of work ends after stats.DefaultUnitGap of
	// idle and a sweep; wait for it so the report includes it.
	time.Sleep(2*stats.DefaultUnitGap + 100*time.Millisecond)
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	snap, ferr := report.Fetch(fctx, api, base, cfg.httpToken)
	cancel()
	serr := stopServing()
	if ferr != nil {
		return errors.Join(fmt.Errorf("demo: reading the final statistics: %w", ferr), serr)
	}
	fmt.Fprintf(stdout, "\nquerylens demo: %d pages played (%d errors on purpose, %d pages failed). What querylens saw:\n\n",
		w.st.Pages, w.st.Expected, w.st.Failed)
	if err := report.Write(stdout, snap, report.Config{Format: report.FormatText, Top: demoReportTop, Sources: []string{"querylens demo"}}); err != nil {
		return errors.Join(err, serr)
	}
	if w.st.Failed > 0 {
		log.Error("some pages of the demo failed; see the errors above", zap.Uint64("failed", w.st.Failed))
	}
	return serr
}

// demoHTTPClient is a client for the stats endpoint at httpAddr (host:port
// or a unix socket) and the base URL to use with it.
func demoHTTPClient(httpAddr string) (*http.Client, string, error) {
	network, addr, err := proxy.SplitAddr(httpAddr)
	if err != nil {
		return nil, "", err
	}
	addr = demo.DialAddress(network, addr)
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}
	host := addr
	if network == "unix" {
		host = "querylens"
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, "http://" + host, nil
}

// waitHealthy polls /healthz until it answers 200. ended is true when
// serve returned first, with err its error (a port in use: the error
// names the flag); otherwise err is ctx's error or a timeout.
func waitHealthy(ctx context.Context, c *http.Client, base string, served <-chan error) (ended bool, err error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if err != nil {
			return false, err
		}
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return false, nil
			}
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("demo: the stats endpoint %s did not answer", base)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case err := <-served:
			if err == nil {
				err = errors.New("demo: the proxy stopped before it was ready")
			}
			return true, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// printDemoIntro says what runs where and how to look at it.
func printDemoIntro(w io.Writer, cfg *config, o *demoOptions, upstream, listenNet, listenAddr string) {
	url := func(path string) string { return "http://" + demo.DialAddress("tcp", cfg.http) + path }
	if network, addr, _ := proxy.SplitAddr(cfg.http); network == "unix" {
		url = func(path string) string { return "curl --unix-socket " + addr + " http://querylens" + path }
	}
	fmt.Fprintf(w, "querylens demo: a small blog app queries an in-memory MySQL-compatible server (%s) through querylens.\n\n", upstream)
	fmt.Fprintf(w, "  dashboard  %s\n", url("/"))
	fmt.Fprintf(w, "  findings   %s\n", url("/api/v1/findings"))
	fmt.Fprintf(w, "  digests    %s\n", url("/api/v1/digests"))
	fmt.Fprintf(w, "  metrics    %s\n", url("/metrics"))
	if listenNet == "unix" {
		fmt.Fprintf(w, "  proxy      unix:%s   (mariadb -S %s -u %s %s)\n", listenAddr, listenAddr, demo.User, demo.Database)
	} else {
		host, port, _ := net.SplitHostPort(listenAddr)
		fmt.Fprintf(w, "  proxy      %s   (mariadb -h %s -P %s -u %s %s)\n", listenAddr, host, port, demo.User, demo.Database)
	}
	stop := "Ctrl-C stops it"
	if o.duration > 0 {
		stop = fmt.Sprintf("It stops after %s (or on Ctrl-C)", o.duration)
	}
	fmt.Fprintf(w, "\n%s and prints a report. An N+1 loop shows under Findings within seconds.\n", stop)
}
