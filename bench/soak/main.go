// Command soak runs querylens at steady load for a long time and samples its
// memory, goroutines and error counters, to show that nothing grows and
// nothing fails (docs/soak.md has a result).
//
// It starts a throwaway mariadbd (internal/testdb), builds querylens from
// this tree, runs it as a child process with a query log, a state file and
// the stats endpoint, and drives it with sysbench oltp_read_write at a fixed
// rate plus a Go client that mixes prepared statements, an N+1 loop and a
// connection per request. Every --every it prints one line; at the end a
// markdown summary, and it exits 1 if any check failed.
//
//	go run ./bench/soak -duration 30m
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/querylens/querylens/internal/testdb"
)

func main() {
	duration := flag.Duration("duration", 30*time.Minute, "how long to run the load")
	every := flag.Duration("every", 30*time.Second, "how often to sample")
	rate := flag.Int("rate", 100, "sysbench transactions per second (fixed rate)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := soak(ctx, *duration, *every, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type sample struct {
	at                          time.Duration
	rssKiB                      int64
	heap, goroutines, conns     float64
	events, dropped, decodeErrs float64
	findings                    float64
	clientQueries, clientErrors int64
}

func soak(ctx context.Context, duration, every time.Duration, rate int) error {
	sysbench, err := exec.LookPath("sysbench")
	if err != nil {
		return errors.New("sysbench not found: sudo apt-get install sysbench")
	}
	dir, err := os.MkdirTemp("", "querylens-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	srv, err := testdb.Start(testdb.Options{})
	if err != nil {
		return fmt.Errorf("mariadbd: %w", err)
	}
	defer srv.Stop()
	bin := filepath.Join(dir, "querylens")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/querylens").CombinedOutput(); err != nil {
		return fmt.Errorf("go build (run from the module root): %v\n%s", err, out)
	}
	listen, httpAddr := freeAddr(), freeAddr()
	logFile, err := os.Create(filepath.Join(dir, "querylens.log"))
	if err != nil {
		return err
	}
	ql := exec.Command(bin, "--listen", listen, "--upstream", srv.Addr, "--http", httpAddr,
		"--query-log", filepath.Join(dir, "query.log"), "--query-log-sample", "0.01",
		"--state-file", filepath.Join(dir, "state.json"), "--state-interval", "1m", "--log-format", "json")
	ql.Stdout, ql.Stderr = logFile, logFile
	if err := ql.Start(); err != nil {
		return err
	}
	defer func() {
		_ = ql.Process.Signal(syscall.SIGTERM)
		_ = ql.Wait()
	}()
	if err := waitHTTP(httpAddr); err != nil {
		return err
	}

	host, port, _ := net.SplitHostPort(listen)
	common := []string{"oltp_read_write", "--db-driver=mysql", "--mysql-user=" + testdb.User,
		"--mysql-password=" + testdb.Password, "--mysql-db=" + testdb.Schema, "--tables=4", "--table-size=10000"}
	if out, err := exec.Command(sysbench, append(common, "--mysql-host=127.0.0.1", "--mysql-port="+strconv.Itoa(srv.Port), "prepare")...).CombinedOutput(); err != nil {
		return fmt.Errorf("sysbench prepare: %v\n%s", err, out)
	}

	fmt.Printf("soak: querylens pid %d on %s (stats http://%s), mariadbd on %s, %s at %d tx/s\n",
		ql.Process.Pid, listen, httpAddr, srv.Addr, duration, rate)
	runCtx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()

	var wg sync.WaitGroup
	var sbOut strings.Builder
	var sbErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		secs := int(duration.Seconds())
		// It ends by itself after --time; ctx only cuts it on Ctrl-C.
		cmd := exec.CommandContext(ctx, sysbench, append(common, "--mysql-host="+host, "--mysql-port="+port,
			"--threads=4", "--rate="+strconv.Itoa(rate), "--time="+strconv.Itoa(secs), "--report-interval=0", "run")...)
		out, err := cmd.CombinedOutput()
		sbOut.Write(out)
		sbErr = err
	}()
	var queries, clientErrs atomic.Int64
	dsn := srv.DSN(listen, testdb.Schema)
	wg.Add(1)
	go func() {
		defer wg.Done()
		app(runCtx, dsn, &queries, &clientErrs)
	}()

	start := time.Now()
	var samples []sample
	t := time.NewTicker(every)
	defer t.Stop()
	fmt.Println("| t | RSS MiB | heap MiB | goroutines | open conns | events | dropped | decode errors | findings | app queries | app errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	take := func() {
		s, err := sampleOf(ql.Process.Pid, httpAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sample:", err)
			return
		}
		s.at = time.Since(start).Round(time.Second)
		s.clientQueries, s.clientErrors = queries.Load(), clientErrs.Load()
		samples = append(samples, s)
		fmt.Printf("| %s | %.1f | %.1f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %d | %d |\n", s.at, float64(s.rssKiB)/1024,
			s.heap/(1<<20), s.goroutines, s.conns, s.events, s.dropped, s.decodeErrs, s.findings, s.clientQueries, s.clientErrors)
	}
	take()
loop:
	for {
		select {
		case <-t.C:
			take()
		case <-runCtx.Done():
			break loop
		}
	}
	wg.Wait()
	take()
	return verdict(samples, sbOut.String(), sbErr, logFile.Name())
}

// app is a small application: a list page with an N+1 loop, prepared
// lookups, a handler that connects per query, and a transaction, about
// ten requests a second.
func app(ctx context.Context, dsn string, queries, errs *atomic.Int64) {
	pool, err := sql.Open("mysql", dsn+"&interpolateParams=false")
	if err != nil {
		errs.Add(1)
		return
	}
	defer pool.Close()
	pool.SetMaxOpenConns(4)
	count := func(err error) {
		queries.Add(1)
		if err != nil && ctx.Err() == nil {
			errs.Add(1)
		}
	}
	for i := 0; ctx.Err() == nil; i++ {
		rows, err := pool.QueryContext(ctx, "SELECT id FROM sbtest1 ORDER BY id LIMIT 20")
		count(err)
		var ids []int
		if err == nil {
			for rows.Next() {
				var id int
				if rows.Scan(&id) == nil {
					ids = append(ids, id)
				}
			}
			rows.Close()
		}
		for _, id := range ids {
			var k int
			count(pool.QueryRowContext(ctx, "SELECT k FROM sbtest2 WHERE id = ?", id).Scan(&k))
		}
		if i%5 == 0 {
			db, err := sql.Open("mysql", dsn)
			if err == nil {
				var c string
				count(db.QueryRowContext(ctx, "SELECT c FROM sbtest3 WHERE id = "+strconv.Itoa(1+i%1000)).Scan(&c))
				db.Close()
			}
		}
		if tx, err := pool.BeginTx(ctx, nil); err == nil {
			_, err = tx.ExecContext(ctx, "UPDATE sbtest4 SET k = k + 1 WHERE id = ?", 1+i%1000)
			count(err)
			count(tx.Commit())
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sampleOf reads the proxy's RSS from /proc and its gauges and counters
// from /metrics.
func sampleOf(pid int, httpAddr string) (sample, error) {
	var s sample
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			s.rssKiB, _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		base, _, _ := strings.Cut(name, "{")
		switch base {
		case "go_memstats_heap_inuse_bytes":
			s.heap = v
		case "go_goroutines":
			s.goroutines = v
		case "querylens_connections_open":
			s.conns = v
		case "querylens_events_total":
			s.events = v
		case "querylens_events_dropped_total":
			s.dropped = v
		case "querylens_decode_errors_total":
			s.decodeErrs += v
		case "querylens_findings_total":
			s.findings += v
		}
	}
	return s, sc.Err()
}

// verdict checks the run: no errors anywhere, and memory and goroutines
// flat after the warm-up (the first fifth of the run).
func verdict(samples []sample, sysbenchOut string, sysbenchErr error, logFile string) error {
	var problems []string
	if sysbenchErr != nil {
		problems = append(problems, fmt.Sprintf("sysbench: %v", sysbenchErr))
	}
	for _, line := range strings.Split(sysbenchOut, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "ignored" || f[0] == "reconnects:") {
			fmt.Println("sysbench:", strings.TrimSpace(line))
		}
		if strings.Contains(line, "transactions:") || strings.Contains(line, "queries:") {
			fmt.Println("sysbench:", strings.TrimSpace(line))
		}
	}
	if len(samples) < 3 {
		return errors.New("too few samples")
	}
	last := samples[len(samples)-1]
	warm := samples[len(samples)/5]
	if last.decodeErrs > 0 || last.dropped > 0 || last.clientErrors > 0 {
		problems = append(problems, fmt.Sprintf("decode errors %.0f, dropped events %.0f, client errors %d",
			last.decodeErrs, last.dropped, last.clientErrors))
	}
	growth := float64(last.rssKiB-warm.rssKiB) / 1024
	fmt.Printf("\nRSS after warm-up %.1f MiB, at the end %.1f MiB (%+.1f MiB); goroutines %.0f → %.0f\n",
		float64(warm.rssKiB)/1024, float64(last.rssKiB)/1024, growth, warm.goroutines, last.goroutines)
	if growth > 16 {
		problems = append(problems, fmt.Sprintf("RSS grew by %.1f MiB after the warm-up", growth))
	}
	if last.goroutines > warm.goroutines+20 {
		problems = append(problems, fmt.Sprintf("goroutines grew from %.0f to %.0f", warm.goroutines, last.goroutines))
	}
	if b, err := os.ReadFile(logFile); err == nil {
		n := strings.Count(string(b), `"level":"error"`)
		if n > 0 {
			problems = append(problems, fmt.Sprintf("%d error lines in the querylens log", n))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Println("soak: ok")
	return nil
}

func waitHTTP(addr string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("querylens did not come up")
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}
