package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/querylens/querylens/proxy"
	"github.com/querylens/querylens/report"
	"github.com/querylens/querylens/stats"
	"github.com/querylens/querylens/stats/dashboard"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

// run is the whole program; main only turns its error into an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		cfg, err := parseRun(args)
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return nil
		}
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout, stderr)
	case "report":
		return report.Run(ctx, args, stdout, stderr)
	case "analyze":
		return analyze(ctx, args, stdout, stderr)
	case "demo":
		return runDemo(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "querylens", versionString())
		return nil
	case "help":
		usage(stdout)
		return nil
	default:
		return &usageError{fmt.Sprintf("unknown command %q (want run, report, analyze, demo, version or help)", cmd)}
	}
}

func newLogger(cfg *config, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.logLevel)
	if err != nil {
		return nil, err
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	encCfg.EncodeDuration = zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	if cfg.logFormat == "json" {
		enc = zapcore.NewJSONEncoder(encCfg)
	} else {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core, zap.ErrorOutput(zapcore.AddSync(w))), nil
}

// serve runs the proxy and the stats endpoint until ctx ends, then drains.
func serve(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // nothing useful to do on a failed flush

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	scfg := stats.DefaultConfig()
	scfg.MaxDigests = cfg.maxDigests
	scfg.SlowThreshold = cfg.slowThreshold
	scfg.QueryLogSample = cfg.queryLogSample
	scfg.LogLiterals = cfg.logLiterals
	scfg.RecycleEvents = true // the proxy observes each event once and keeps none
	if cfg.queryLog != "" {
		qlog, closeLog, rotate, err := newQueryLog(cfg, stdout)
		if err != nil {
			return err
		}
		defer closeLog()
		if rotate != nil {
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for range hup {
					if err := rotate(); err != nil {
						log.Error("SIGHUP: rotating the query log failed", zap.Error(err))
					} else {
						log.Info("SIGHUP: query log rotated", zap.String("query_log", cfg.queryLog))
					}
				}
			}()
		}
		scfg.QueryLog = qlog
		log.Info("query log on", zap.String("to", cfg.queryLog), zap.Duration("slow_threshold", cfg.slowThreshold),
			zap.Float64("sample", cfg.queryLogSample), zap.Bool("literals", cfg.logLiterals))
	}
	engine, err := stats.New(scfg, log.Named("stats"))
	if err != nil {
		return err
	}
	reg.MustRegister(stats.NewCollector(engine, cfg.topDigests))
	if cfg.stateFile != "" {
		n, err := restoreState(engine, cfg.stateFile)
		if err != nil {
			return err
		}
		if n >= 0 {
			log.Info("state restored", zap.String("state_file", cfg.stateFile), zap.Int("digests", n))
		}
	}
	engineCtx, stopEngineCtx := context.WithCancel(context.Background())
	engineDone := make(chan struct{})
	go func() { engine.Run(engineCtx); close(engineDone) }()
	stopEngine := sync.OnceFunc(func() { stopEngineCtx(); <-engineDone })
	defer stopEngine()
	if cfg.stateFile != "" {
		saverDone := make(chan struct{})
		saverCtx, stopSaver := context.WithCancel(context.Background())
		go func() {
			defer close(saverDone)
			t := time.NewTicker(cfg.stateInterval)
			defer t.Stop()
			for {
				select {
				case <-saverCtx.Done():
					return
				case <-t.C:
					if err := saveState(engine.Snapshot(), cfg.stateFile); err != nil {
						log.Warn("saving state failed; will retry", zap.String("state_file", cfg.stateFile), zap.Error(err))
					}
				}
			}
		}()
		// Runs before stopEngine (defers run last-in first-out): stop the
		// periodic saver, drain the engine, then save its final snapshot.
		defer func() {
			stopSaver()
			<-saverDone
			stopEngine()
			if err := saveState(engine.Snapshot(), cfg.stateFile); err != nil {
				log.Error("saving state at shutdown failed", zap.String("state_file", cfg.stateFile), zap.Error(err))
				return
			}
			log.Info("state saved", zap.String("state_file", cfg.stateFile))
		}()
	}

	pcfg := proxy.DefaultConfig()
	pcfg.Upstream = cfg.upstream
	pcfg.DialTimeout = cfg.dialTimeout
	pcfg.MaxConnections = cfg.maxConnections
	pcfg.MaxSQLBytes = cfg.maxSQLBytes
	pcfg.Pumps = cfg.relay == "pumps"
	pcfg.Epoll = cfg.relay == "epoll"
	pcfg.EventLoops = cfg.eventLoops
	if err := configureTLS(&pcfg, cfg, log); err != nil {
		return err
	}
	srv, err := proxy.New(pcfg, engine, log.Named("proxy"), proxy.NewMetrics(reg))
	if err != nil {
		return err
	}

	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	for _, addr := range cfg.listen {
		l, err := proxy.Listen(addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("listen %s (flag -listen): %w", addr, err)
		}
		listeners = append(listeners, l)
	}

	var httpSrv *http.Server
	var httpLn net.Listener
	if cfg.http != "" {
		httpLn, err = proxy.Listen(cfg.http)
		if err != nil {
			closeAll()
			return fmt.Errorf("listen %s (flag -http): %w", cfg.http, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, "ok")
		})
		var apiOpts []stats.HandlerOption
		if cfg.httpToken != "" {
			apiOpts = append(apiOpts, stats.WithResetToken(cfg.httpToken))
		}
		mux.Handle("/api/", stats.NewHandler(engine, log.Named("http"), apiOpts...))
		mux.Handle("/", dashboard.Handler()) // GET / and GET /static/...; anything else 404
		httpSrv = &http.Server{Handler: newHTTPGuard(mux, cfg, log.Named("http")), ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(log.Named("http"))}
	}

	var wg sync.WaitGroup
	errc := make(chan error, len(listeners)+1)
	for _, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); !errors.Is(err, proxy.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", l.Addr(), err)
			}
		}()
		log.Info("proxy listening", zap.String("listen", l.Addr().String()), zap.String("upstream", cfg.upstream))
	}
	if httpSrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := httpSrv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve http %s: %w", httpLn.Addr(), err)
			}
		}()
		log.Info("stats endpoint listening", zap.String("http", "http://"+httpLn.Addr().String()+"/"))
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: no new connections; waiting for commands in flight",
			zap.Duration("timeout", cfg.shutdownTimeout), zap.Int("connections", srv.OpenConns()))
	case runErr = <-errc:
		log.Error("stopping", zap.Error(runErr))
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown timeout reached; closed busy connections", zap.Error(err))
	}
	if httpSrv != nil {
		hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = httpSrv.Shutdown(hctx)
		hcancel()
	}
	wg.Wait()
	log.Info("stopped")
	return runErr
}

// configureTLS fills the proxy's TLS settings from the flags.
func configureTLS(pcfg *proxy.Config, cfg *config, log *zap.Logger) error {
	mode, err := proxy.ParseUpstreamTLSMode(cfg.upstreamTLS)
	if err != nil {
		return &usageError{"invalid value for flag -upstream-tls: " + err.Error()}
	}
	pcfg.UpstreamTLSMode = mode
	pcfg.UpstreamTLS, err = proxy.UpstreamTLSConfig(mode, cfg.upstream, cfg.upstreamCA, cfg.upstreamServerName)
	if err != nil {
		return fmt.Errorf("upstream TLS (flags -upstream-tls, -upstream-ca): %w", err)
	}
	if cfg.tls == "off" {
		log.Info("TLS towards clients is off: CLIENT_SSL is hidden, clients use plaintext")
		return nil
	}
	var fp string
	pcfg.ClientTLS, fp, err = proxy.ClientTLSConfig(cfg.tlsCert, cfg.tlsKey)
	if err != nil {
		return fmt.Errorf("TLS certificate (flags -tls-cert, -tls-key): %w", err)
	}
	source := cfg.tlsCert
	if source == "" {
		source = "self-signed, made at start"
	}
	log.Info("TLS offered to clients when the upstream offers it", zap.String("certificate", source), zap.String("sha256", fp))
	return nil
}

// newQueryLog builds the query log: zap's JSON encoder (no level, no
// message: every line is a statement) into stdout or a file rotated by
// lumberjack, the rotation library zap's own docs point to.
//
// rotate (nil for stdout) starts a new file, keeping the old one as a
// backup; SIGHUP calls it.
func newQueryLog(cfg *config, stdout io.Writer) (qlog *zap.Logger, closeFn func(), rotate func() error, err error) {
	var ws zapcore.WriteSyncer
	closeFn = func() {}
	if cfg.queryLog == "stdout" {
		ws = zapcore.Lock(zapcore.AddSync(stdout))
	} else {
		f, err := os.OpenFile(cfg.queryLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("query log (flag -query-log): %w", err)
		}
		f.Close()
		lj := &lumberjack.Logger{Filename: cfg.queryLog, MaxSize: cfg.queryLogMaxSize, MaxBackups: cfg.queryLogMaxBackups}
		ws = zapcore.AddSync(lj)
		closeFn = func() { _ = lj.Close() }
		rotate = lj.Rotate
	}
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{
		TimeKey:        "ts",
		EncodeTime:     zapcore.RFC3339NanoTimeEncoder,
		EncodeDuration: zapcore.StringDurationEncoder,
	})
	return zap.New(zapcore.NewCore(enc, ws, zapcore.InfoLevel)), closeFn, rotate, nil
}

// restoreState loads a state file into the engine and returns the number
// of digests restored, or -1 when the file does not exist yet. A file that
// cannot be read is an error: starting fresh would overwrite it and lose
// its counts.
func restoreState(engine *stats.Engine, path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("state file (flag -state-file): %w", err)
	}
	var snap stats.Snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return 0, fmt.Errorf("state file %s (flag -state-file) is not a querylens snapshot: %w; move it away to start fresh", path, err)
	}
	if err := engine.Restore(&snap); err != nil {
		return 0, fmt.Errorf("state file %s (flag -state-file): %w; move it away to start fresh", path, err)
	}
	return len(snap.Digests), nil
}

// saveState writes the snapshot atomically: a temporary file in the same
// directory, synced, then renamed over the old state.
func saveState(snap *stats.Snapshot, path string) error {
	b, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op once renamed
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
