// Command loadcmp measures what querylens costs next to a relay that
// understands nothing: the same workloads against a MariaDB server
// directly, through HAProxy in TCP mode and through querylens, interleaved
// (direct, haproxy, querylens, direct, haproxy, querylens, ...) so that
// background load on the machine hits all three alike, with medians over
// the rounds. It prints markdown tables:
//
//   - sysbench oltp_point_select and oltp_read_write, --db-ps-mode=auto and
//     disable, 1/8/32 threads: queries per second and the CPU seconds the
//     relay process spent per 100,000 queries (utime+stime from /proc);
//   - round trips over one connection (go-sql-driver): SELECT 1 as text
//     and a prepared SELECT ?, p50 and p99;
//   - memory per idle connection with 2,000 idle connections open, on a
//     fresh relay process (VmRSS before and after);
//   - RSS while one client streams a 1 GiB result through a fresh relay
//     (1,024 rows of 1 MiB from MariaDB's sequence engine).
//
// It starts everything itself: a throwaway mariadbd (internal/testdb),
// haproxy with a generated configuration, and querylens built from this
// tree. Run it from the module root (docs/performance.md has results):
//
//	go run ./bench/cmd/loadcmp              # full run, about 20 minutes with the defaults
//	go run ./bench/cmd/loadcmp -quick       # smoke run, about a minute
//
// It needs sysbench, haproxy and mariadbd (Debian: sysbench, haproxy,
// mariadb-server).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/querylens/querylens/internal/testdb"
)

// options are the command-line settings.
type options struct {
	quick      bool
	rounds     int
	seconds    int
	threads    []int
	tests      []string
	psModes    []string
	roundTrips int
	idleConns  int
	streamRows int
	out        string
	only       string
	qlBin      string
	qlEnv      string
	godebug    string
	buildTags  string
}

func main() {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "short smoke run: one round of 3s at 8 threads, fewer round trips, connections and rows (overrides those flags)")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds per sysbench case and per round-trip test")
	flag.IntVar(&o.seconds, "time", 10, "seconds per sysbench run")
	flag.IntVar(&o.roundTrips, "round-trips", 20000, "round trips per round-trip test")
	flag.IntVar(&o.idleConns, "idle-conns", 2000, "idle connections held open")
	flag.IntVar(&o.streamRows, "stream-mib", 1024, "size of the streamed result in MiB (rows of 1 MiB)")
	flag.StringVar(&o.out, "out", "", "also write the markdown report to this file")
	flag.StringVar(&o.only, "only", "", "run only these parts, comma-separated: sysbench, roundtrip, idle, stream")
	flag.StringVar(&o.qlBin, "querylens", "", "querylens `binary` to measure instead of one built from this tree (to compare builds)")
	flag.StringVar(&o.buildTags, "tags", "nodemo", "build `tags` for querylens (nodemo: without the demo's in-memory server, as the container image is built)")
	flag.StringVar(&o.qlEnv, "querylens-env", "", "extra environment for querylens, comma-separated `K=V` pairs (such as GOMAXPROCS=1)")
	flag.StringVar(&o.godebug, "godebug", "schedtrace=2147483647", "GODEBUG for querylens, as the container image and the systemd unit set it (empty: the Go runtime's defaults)")
	tests := flag.String("tests", "oltp_point_select,oltp_read_write", "sysbench tests, comma-separated")
	psModes := flag.String("ps-modes", "auto,disable", "sysbench --db-ps-mode values, comma-separated")
	threads := flag.String("threads", "1,8,32", "sysbench thread counts, comma-separated")
	flag.Parse()
	if o.quick {
		o.rounds, o.seconds, *threads = 1, 3, "8"
		o.roundTrips, o.idleConns, o.streamRows = 2000, 200, 64
	}
	o.tests = strings.Split(*tests, ",")
	o.psModes = strings.Split(*psModes, ",")
	for _, t := range strings.Split(*threads, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(t))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "loadcmp: -threads: %q is not a positive number\n", t)
			os.Exit(2)
		}
		o.threads = append(o.threads, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "loadcmp:", err)
		os.Exit(1)
	}
}

// env is what every measurement needs: the server, the relays' binaries and
// a scratch directory.
type env struct {
	o        options
	dir      string
	srv      *testdb.Server
	qlBin    string
	sysbench string
	report   io.Writer
}

func (e *env) want(part string) bool {
	if e.o.only == "" {
		return true
	}
	for _, p := range strings.Split(e.o.only, ",") {
		if strings.TrimSpace(p) == part {
			return true
		}
	}
	return false
}

func run(ctx context.Context, o options) error {
	e := &env{o: o}
	var err error
	if e.sysbench, err = exec.LookPath("sysbench"); err != nil && e.want("sysbench") {
		return errors.New("sysbench not found: sudo apt-get install sysbench")
	}
	// 2,000 idle connections pass through a relay: a socket for the
	// client, one per leg in the relay, one at the server.
	if err := raiseNoFile(uint64(4*o.idleConns + 1000)); err != nil {
		return err
	}
	if e.dir, err = os.MkdirTemp("", "querylens-loadcmp-"); err != nil {
		return err
	}
	defer os.RemoveAll(e.dir)

	e.qlBin = o.qlBin
	if e.qlBin == "" {
		e.qlBin = filepath.Join(e.dir, "querylens")
		if out, err := exec.CommandContext(ctx, "go", "build", "-tags", o.buildTags, "-o", e.qlBin, "./cmd/querylens").CombinedOutput(); err != nil {
			return fmt.Errorf("go build (run from the module root): %v\n%s", err, out)
		}
	}
	e.srv, err = testdb.Start(testdb.Options{Args: []string{
		"--max-connections=" + fmt.Sprint(o.idleConns+100),
		// The relay is what is measured: keep the server's own
		// instrumentation out of the way.
		"--performance-schema=OFF",
		"--innodb-buffer-pool-size=256M",
	}})
	if err != nil {
		return fmt.Errorf("mariadbd: %w", err)
	}
	defer e.srv.Stop()

	var buf strings.Builder
	e.report = io.MultiWriter(os.Stdout, &buf)
	e.header()

	parts := []struct {
		name string
		f    func(context.Context) error
	}{
		{"sysbench", e.sysbenchCases},
		{"roundtrip", e.roundTripTests},
		{"stream", e.streamTest},
		{"idle", e.idleTest},
	}
	for _, p := range parts {
		if !e.want(p.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.f(ctx); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	fmt.Fprintf(e.report, "\nLoad at the end: %s\n", loadAvg())
	if o.out != "" {
		return os.WriteFile(o.out, []byte(buf.String()), 0o644)
	}
	return nil
}

// header records when, where and with what the numbers were taken.
func (e *env) header() {
	host, _ := os.Hostname()
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	hv := "?"
	if out, err := exec.Command("haproxy", "-v").Output(); err == nil {
		hv = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	sv := "?"
	if e.sysbench != "" {
		if out, err := exec.Command(e.sysbench, "--version").Output(); err == nil {
			sv = strings.TrimSpace(string(out))
		}
	}
	fmt.Fprintf(e.report, "# querylens load comparison\n\n")
	fmt.Fprintf(e.report, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(e.report, "- machine: %s, %d CPUs (%s), %s\n", host, runtime.NumCPU(), cpu, osRelease())
	fmt.Fprintf(e.report, "- %s; MariaDB %s; %s; %s\n", runtime.Version(), e.srv.Version, hv, sv)
	fmt.Fprintf(e.report, "- load at the start: %s\n", loadAvg())
	if e.o.qlBin != "" || e.o.qlEnv != "" {
		fmt.Fprintf(e.report, "- querylens binary %s, extra environment %q\n", e.qlBin, e.o.qlEnv)
	} else {
		fmt.Fprintf(e.report, "- querylens built from the tree with -tags %q\n", e.o.buildTags)
	}
	fmt.Fprintf(e.report, "- querylens GODEBUG=%q\n", e.o.godebug)
	fmt.Fprintf(e.report, "- rounds: %d, sysbench runs of %ds, %d round trips per test\n", e.o.rounds, e.o.seconds, e.o.roundTrips)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func osRelease() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

// relays starts a fresh HAProxy and querylens in front of the server; stop
// them with the returned function.
func (e *env) relays() (hap, ql *proc, stop func(), err error) {
	if hap, err = startHAProxy(e.dir, e.srv.Addr); err != nil {
		return nil, nil, nil, err
	}
	var qlEnv []string
	if e.o.godebug != "" {
		qlEnv = append(qlEnv, "GODEBUG="+e.o.godebug)
	}
	if e.o.qlEnv != "" {
		qlEnv = append(qlEnv, strings.Split(e.o.qlEnv, ",")...) // the last of a duplicate key wins
	}
	if ql, err = startQuerylens(e.dir, e.qlBin, e.srv.Addr, qlEnv); err != nil {
		hap.stop()
		return nil, nil, nil, err
	}
	return hap, ql, func() { ql.stop(); hap.stop() }, nil
}

// target is one way to reach the server: directly or through a relay.
type target struct {
	name string
	addr string
	pid  int // the relay's, 0 when direct
}

func (e *env) targets(hap, ql *proc) []target {
	return []target{
		{name: "direct", addr: e.srv.Addr},
		{name: "haproxy", addr: hap.addr, pid: hap.pid()},
		{name: "querylens", addr: ql.addr, pid: ql.pid()},
	}
}
