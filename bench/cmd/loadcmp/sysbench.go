package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/querylens/querylens/internal/testdb"
)

// sysbench tables: small enough to stay in the buffer pool, so the server
// answers fast and what the relay adds shows.
const (
	sbTables    = 8
	sbTableSize = 10000
)

func (e *env) sbArgs(test, addr string) []string {
	host, port, _ := net.SplitHostPort(addr)
	return []string{test, "--db-driver=mysql", "--mysql-user=" + testdb.User,
		"--mysql-password=" + testdb.Password, "--mysql-db=" + testdb.Schema,
		"--mysql-host=" + host, "--mysql-port=" + port,
		"--tables=" + strconv.Itoa(sbTables), "--table-size=" + strconv.Itoa(sbTableSize)}
}

// sbResult is one sysbench run through one target.
type sbResult struct {
	qps     float64
	queries float64
	cpu     float64 // relay CPU seconds during the run
	errs    float64 // ignored errors
}

// runSysbench runs one case against t and measures the relay's CPU time.
func (e *env) runSysbench(ctx context.Context, t target, test, ps string, threads, secs int) (sbResult, error) {
	var r sbResult
	args := append(e.sbArgs(test, t.addr), "--db-ps-mode="+ps, "--threads="+strconv.Itoa(threads),
		"--time="+strconv.Itoa(secs), "--report-interval=0", "run")
	var cpu0 float64
	if t.pid != 0 {
		var err error
		if cpu0, err = cpuSeconds(t.pid); err != nil {
			return r, err
		}
	}
	out, err := exec.CommandContext(ctx, e.sysbench, args...).CombinedOutput()
	if err != nil {
		return r, fmt.Errorf("sysbench %s through %s: %v\n%s", test, t.name, err, out)
	}
	if t.pid != 0 {
		cpu1, err := cpuSeconds(t.pid)
		if err != nil {
			return r, err
		}
		r.cpu = cpu1 - cpu0
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "queries:":
			r.queries, _ = strconv.ParseFloat(f[1], 64)
			r.qps, _ = strconv.ParseFloat(strings.TrimPrefix(f[2], "("), 64)
		case len(f) >= 3 && f[0] == "ignored" && f[1] == "errors:":
			r.errs, _ = strconv.ParseFloat(f[2], 64)
		}
	}
	if r.qps == 0 {
		return r, fmt.Errorf("sysbench %s through %s: no \"queries:\" line\n%s", test, t.name, out)
	}
	return r, nil
}

// sysbenchCases runs every (test, ps mode, threads) case, its rounds
// interleaved direct, haproxy, querylens, and prints the medians.
func (e *env) sysbenchCases(ctx context.Context) error {
	// oltp_point_select and oltp_read_write share oltp_common's tables.
	out, err := exec.CommandContext(ctx, e.sysbench, append(e.sbArgs("oltp_read_write", e.srv.Addr), "--threads=4", "prepare")...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sysbench prepare: %v\n%s", err, out)
	}
	hap, ql, stop, err := e.relays()
	if err != nil {
		return err
	}
	defer stop()
	ts := e.targets(hap, ql)
	// Warm up the server's caches and each relay's buffers.
	for _, t := range ts {
		if _, err := e.runSysbench(ctx, t, "oltp_read_write", "auto", 8, 2); err != nil {
			return err
		}
	}

	w := e.report
	fmt.Fprintf(w, "\n## sysbench: queries per second, relay CPU per 100k queries\n\n")
	fmt.Fprintf(w, "Medians of %d interleaved runs of %d s each, the order of the paths rotating from round to round (direct, HAProxy, querylens; then HAProxy, querylens, direct; ...). Ratio = median querylens QPS / median HAProxy QPS (target ≥ 0.97); per round = the median over rounds of querylens QPS / HAProxy QPS in the same round, which a host whose speed drifts from round to round moves less; CPU = relay process utime+stime per 100,000 queries (target querylens ≤ 1.5 × HAProxy).\n\n", e.o.rounds, e.o.seconds)
	fmt.Fprintln(w, "| test | ps-mode | threads | direct QPS | HAProxy QPS | querylens QPS | querylens / HAProxy | per round | HAProxy CPU s/100k | querylens CPU s/100k | CPU ratio |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var raw []string
	for _, test := range e.o.tests {
		for _, ps := range e.o.psModes {
			for _, threads := range e.o.threads {
				qps := make([][]float64, len(ts))
				cpu := make([][]float64, len(ts))
				for round := range e.o.rounds {
					line := fmt.Sprintf("%s %s %d round %d:", test, ps, threads, round+1)
					for _, i := range order(len(ts), round) {
						t := ts[i]
						r, err := e.runSysbench(ctx, t, test, ps, threads, e.o.seconds)
						if err != nil {
							return err
						}
						qps[i] = append(qps[i], r.qps)
						if r.queries > 0 {
							cpu[i] = append(cpu[i], r.cpu/r.queries*1e5)
						}
						line += fmt.Sprintf(" %s %.0f qps", t.name, r.qps)
						if t.pid != 0 {
							line += fmt.Sprintf(" (%.2f CPU s)", r.cpu)
						}
						if r.errs > 0 {
							line += fmt.Sprintf(" [%.0f ignored errors]", r.errs)
						}
					}
					raw = append(raw, line)
				}
				d, h, q := median(qps[0]), median(qps[1]), median(qps[2])
				hc, qc := median(cpu[1]), median(cpu[2])
				fmt.Fprintf(w, "| %s | %s | %d | %.0f | %.0f | %.0f | %.3f %s | %.3f | %.2f | %.2f | %.2f %s |\n",
					test, ps, threads, d, h, q, q/h, mark(q/h >= 0.97), pairedRatio(qps[2], qps[1]), hc, qc, qc/hc, mark(qc <= 1.5*hc))
			}
		}
	}
	fmt.Fprintf(w, "\n<details><summary>every run</summary>\n\n```\n%s\n```\n</details>\n", strings.Join(raw, "\n"))
	return nil
}

// order is the order in which round runs n paths: each round starts one
// path later than the one before, so that no path always runs after the
// same other (after its writes, say, or on the caches it warmed).
func order(n, round int) []int {
	o := make([]int, n)
	for k := range o {
		o[k] = (k + round) % n
	}
	return o
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// pairedRatio is the median over rounds of a[i]/b[i]: each round's two
// runs minutes apart at most, so a host that gets faster or slower from
// one round to the next moves it less than the ratio of the medians,
// which can pair one path's fast round with the other's slow one.
func pairedRatio(a, b []float64) float64 {
	var r []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			r = append(r, a[i]/b[i])
		}
	}
	return median(r)
}

// median of xs (the mean of the middle two for an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
