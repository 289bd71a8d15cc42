package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/querylens/querylens/proxy"
	"github.com/querylens/querylens/report"
	"github.com/querylens/querylens/stats"
)

// config is everything `querylens run` takes from flags and the environment.
type config struct {
	listen          []string
	upstream        string
	http            string
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
	dialTimeout     time.Duration
	maxConnections  int
	maxSQLBytes     int
	relay           string
	eventLoops      int
	maxDigests      int
	topDigests      int

	tls                string
	tlsCert, tlsKey    string
	upstreamTLS        string
	upstreamCA         string
	upstreamServerName string

	// httpToken guards the stats endpoint (see httpGuard); apiToken is
	// its deprecated alias, kept so old command lines keep working.
	httpToken    string
	apiToken     string
	httpInsecure bool

	queryLog           string
	queryLogSample     float64
	queryLogMaxSize    int
	queryLogMaxBackups int
	slowThreshold      time.Duration
	logLiterals        bool

	stateFile     string
	stateInterval time.Duration
}

// listFlag is a flag that may be repeated or given as a comma-separated list.
type listFlag struct {
	vals *[]string
	set  bool
}

func (l *listFlag) String() string {
	if l.vals == nil {
		return ""
	}
	return strings.Join(*l.vals, ",")
}

func (l *listFlag) Set(s string) error {
	if !l.set {
		*l.vals = nil // the first explicit value replaces the default
		l.set = true
	}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l.vals = append(*l.vals, v)
		}
	}
	return nil
}

// usageError marks a command-line mistake (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u *usageError
	var ru *report.UsageError
	if errors.As(err, &u) || errors.As(err, &ru) {
		return 2
	}
	return 1
}

// envPrefix + the flag name in upper snake case is each flag's environment
// fallback: --max-digests ↔ QUERYLENS_MAX_DIGESTS.
const envPrefix = "QUERYLENS_"

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func runFlags(cfg *config) *flag.FlagSet {
	fs := flag.NewFlagSet("querylens run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.listen = []string{"127.0.0.1:6033"}
	fs.Var(&listFlag{vals: &cfg.listen}, "listen", "client-facing address(es): host:port or unix:/path; repeat or comma-separate for several")
	fs.StringVar(&cfg.upstream, "upstream", "127.0.0.1:3306", "MySQL/MariaDB server: host:port or unix:/path")
	fs.StringVar(&cfg.http, "http", "127.0.0.1:9104", "stats endpoint (dashboard, /metrics, /api/v1): host:port or unix:/path; empty disables it")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&cfg.logFormat, "log-format", "console", "log format: console or json")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long commands in flight may take to finish")
	fs.DurationVar(&cfg.dialTimeout, "dial-timeout", 5*time.Second, "timeout for connecting to the upstream")
	fs.IntVar(&cfg.maxConnections, "max-connections", 0, "client connections served at once; more get MySQL error 1040 \"Too many connections\" (0: no limit but the server's own max_connections)")
	fs.StringVar(&cfg.relay, "relay", "event-loop", "how connections are relayed after the login: event-loop (a few loops relaying through io_uring, or epoll where io_uring is not usable; Linux), epoll (the loops, always with epoll) or pumps (two goroutines per connection, as TLS connections always are)")
	fs.IntVar(&cfg.eventLoops, "event-loops", 0, "event loops relaying connections (0: one per CPU the Go runtime uses); each adds one to GOMAXPROCS")
	fs.IntVar(&cfg.maxSQLBytes, "max-sql-bytes", 64<<10, "statement text kept per command for fingerprinting")
	fs.IntVar(&cfg.maxDigests, "max-digests", stats.DefaultConfig().MaxDigests, "distinct (fingerprint, schema) pairs tracked; more are folded into an overflow entry")
	fs.IntVar(&cfg.topDigests, "metrics-top-digests", 100, "fingerprints exported per-series in /metrics (top by total time); the rest are folded into one")
	fs.StringVar(&cfg.queryLog, "query-log", "", "query log: a file path (rotated) or stdout; JSON lines, one per statement chosen by --slow-threshold and --query-log-sample")
	fs.DurationVar(&cfg.slowThreshold, "slow-threshold", time.Second, "statements at least this slow are always in the query log, flagged slow")
	fs.Float64Var(&cfg.queryLogSample, "query-log-sample", 1, "fraction (0..1) of the statements under --slow-threshold written to the query log")
	fs.IntVar(&cfg.queryLogMaxSize, "query-log-max-size", 100, "query log file size in MiB that triggers rotation")
	fs.IntVar(&cfg.queryLogMaxBackups, "query-log-max-backups", 5, "rotated query log files kept")
	fs.BoolVar(&cfg.logLiterals, "log-literals", false, "keep literal values: raw SQL and server error messages in the query log, a raw sample per fingerprint in the API")
	fs.StringVar(&cfg.stateFile, "state-file", "", "file the aggregates are saved to (periodically and at shutdown) and restored from at start")
	fs.DurationVar(&cfg.stateInterval, "state-interval", time.Minute, "how often the state file is saved")
	fs.StringVar(&cfg.httpToken, "http-token", "", "bearer token for the stats endpoint (\"Authorization: Bearer TOKEN\"): always needed by writes (POST /api/v1/reset), and by every request but /healthz when --http is not loopback; prefer the environment variable")
	fs.BoolVar(&cfg.httpInsecure, "http-insecure", false, "allow --http on a non-loopback address without --http-token: anyone who can reach it reads the statistics (writes stay refused)")
	fs.StringVar(&cfg.apiToken, "api-token", "", "deprecated alias of --http-token")
	fs.StringVar(&cfg.tls, "tls", "auto", "TLS towards clients: auto (offered when the upstream offers TLS) or off (CLIENT_SSL hidden; clients use plaintext)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM certificate offered to clients; default: a self-signed one made at start (its SHA-256 is logged)")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.StringVar(&cfg.upstreamTLS, "upstream-tls", "preferred", "upstream leg, used when the client leg is TLS: preferred, required, verify-ca, verify-identity or disabled")
	fs.StringVar(&cfg.upstreamCA, "upstream-ca", "", "PEM CA bundle for --upstream-tls=verify-ca|verify-identity")
	fs.StringVar(&cfg.upstreamServerName, "upstream-server-name", "", "server name checked by verify-identity and sent as SNI; default: the --upstream host")
	return fs
}

// parseRun parses flags, then fills each flag not given on the command line
// from its environment variable.
func parseRun(args []string) (*config, error) {
	cfg := &config{}
	fs := runFlags(cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || envErr != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = &usageError{fmt.Sprintf("invalid value %q for %s (flag -%s): %v", v, envName(f.Name), f.Name, err)}
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	return cfg, cfg.validate()
}

func (c *config) validate() error {
	bad := func(flag, format string, a ...any) error {
		return &usageError{fmt.Sprintf("invalid value for flag -%s: %s", flag, fmt.Sprintf(format, a...))}
	}
	if len(c.listen) == 0 {
		return bad("listen", "at least one address is needed")
	}
	for _, l := range c.listen {
		if _, _, err := proxy.SplitAddr(l); err != nil {
			return bad("listen", "%v", err)
		}
	}
	if _, _, err := proxy.SplitAddr(c.upstream); err != nil {
		return bad("upstream", "%v", err)
	}
	if c.http != "" {
		if _, _, err := proxy.SplitAddr(c.http); err != nil {
			return bad("http", "%v", err)
		}
	}
	if err := c.validateHTTPAccess(); err != nil {
		return err
	}
	switch c.logLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log-level", "%q is not one of debug, info, warn, error", c.logLevel)
	}
	switch c.logFormat {
	case "console", "json":
	default:
		return bad("log-format", "%q is not one of console, json", c.logFormat)
	}
	if c.shutdownTimeout < 0 {
		return bad("shutdown-timeout", "must not be negative")
	}
	if c.dialTimeout <= 0 {
		return bad("dial-timeout", "must be positive")
	}
	if c.maxConnections < 0 {
		return bad("max-connections", "must not be negative (0 means no limit)")
	}
	switch c.relay {
	case "event-loop", "epoll", "pumps":
	default:
		return bad("relay", "%q is not one of event-loop, epoll, pumps", c.relay)
	}
	if c.eventLoops < 0 {
		return bad("event-loops", "must not be negative (0 means the default)")
	}
	if c.maxSQLBytes < 64 {
		return bad("max-sql-bytes", "%d is below the minimum of 64", c.maxSQLBytes)
	}
	if c.maxDigests < 1 {
		return bad("max-digests", "must be at least 1")
	}
	if c.topDigests < 0 {
		return bad("metrics-top-digests", "must not be negative")
	}
	if c.queryLogSample < 0 || c.queryLogSample > 1 {
		return bad("query-log-sample", "%v is not within 0..1", c.queryLogSample)
	}
	if c.slowThreshold < 0 {
		return bad("slow-threshold", "must not be negative")
	}
	if c.queryLogMaxSize < 1 {
		return bad("query-log-max-size", "must be at least 1 (MiB)")
	}
	if c.queryLogMaxBackups < 0 {
		return bad("query-log-max-backups", "must not be negative")
	}
	if c.stateInterval <= 0 {
		return bad("state-interval", "must be positive")
	}
	if c.tls != "auto" && c.tls != "off" {
		return bad("tls", "%q is not one of auto, off", c.tls)
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		if c.tlsCert == "" {
			return bad("tls-cert", "--tls-key is set, so a certificate is needed too")
		}
		return bad("tls-key", "--tls-cert is set, so its key is needed too")
	}
	mode, err := proxy.ParseUpstreamTLSMode(c.upstreamTLS)
	if err != nil {
		return bad("upstream-tls", "%v", err)
	}
	if (mode == proxy.UpstreamTLSVerifyCA || mode == proxy.UpstreamTLSVerifyIdentity) && c.upstreamCA == "" {
		return bad("upstream-ca", "--upstream-tls=%s needs a CA file", mode)
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `querylens: a transparent MySQL/MariaDB proxy that shows what your application asks of the database.

Usage:
  querylens [run] [flags]   relay clients to --upstream and serve statistics on --http
  querylens report [flags] [--from URL]... [SNAPSHOT]...
                            a pt-query-digest-style report from live proxies and/or snapshot files
                            (querylens report -h for its flags)
  querylens analyze [flags] FILE...
                            the same statistics and report from tcpdump captures (pcap, pcapng)
  querylens demo [flags]    try it: a sample app on an embedded in-memory server, no database needed
  querylens version         print the version

Flags of run (each also read from the environment variable shown):
`)
	fs := runFlags(&config{})
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def != "" {
			def = " (default " + def + ")"
		}
		fmt.Fprintf(w, "  --%s\t%s%s [%s]\n", f.Name, f.Usage, def, envName(f.Name))
	})
}
