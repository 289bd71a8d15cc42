package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/querylens/querylens/internal/testdb"
)

// dsn is a go-sql-driver DSN for the test user through addr. prepared
// turns client-side interpolation off, so statements with arguments are
// real server-side prepared statements.
func (e *env) dsn(addr string, prepared bool) (string, error) {
	cfg, err := mysql.ParseDSN(e.srv.DSN(addr, testdb.Schema))
	if err != nil {
		return "", err
	}
	cfg.InterpolateParams = !prepared
	return cfg.FormatDSN(), nil
}

// roundTrips times n round trips over one connection: SELECT 1 as a text
// query, or a prepared SELECT ? executed n times. It returns the latencies.
func roundTrips(ctx context.Context, dsn string, n int, prepared bool) ([]time.Duration, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	lat := make([]time.Duration, 0, n)
	var v int
	if prepared {
		st, err := db.PrepareContext(ctx, "SELECT ?")
		if err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
		defer st.Close()
		for i := range n + n/10 { // the first tenth warms up
			t0 := time.Now()
			if err := st.QueryRowContext(ctx, i).Scan(&v); err != nil {
				return nil, err
			}
			if i >= n/10 {
				lat = append(lat, time.Since(t0))
			}
		}
		return lat, nil
	}
	for i := range n + n/10 {
		t0 := time.Now()
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&v); err != nil {
			return nil, err
		}
		if i >= n/10 {
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, nil
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// roundTripTests runs both round-trip tests through each target, rounds
// interleaved, and prints the medians of each round's p50 and p99.
func (e *env) roundTripTests(ctx context.Context) error {
	hap, ql, stop, err := e.relays()
	if err != nil {
		return err
	}
	defer stop()
	ts := e.targets(hap, ql)
	w := e.report
	fmt.Fprintf(w, "\n## Round trips over one connection (go-sql-driver)\n\n")
	fmt.Fprintf(w, "%d round trips per run after %d of warm-up, medians over %d interleaved rounds (the order of the paths rotating from round to round) of each run's p50 and p99, in µs. Targets: querylens p50 ≤ HAProxy + 10 µs, p99 ≤ HAProxy + 50 µs.\n\n", e.o.roundTrips, e.o.roundTrips/10, e.o.rounds)
	fmt.Fprintln(w, "| statement | direct p50 | HAProxy p50 | querylens p50 | Δ p50 | direct p99 | HAProxy p99 | querylens p99 | Δ p99 |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, prepared := range []bool{false, true} {
		p50 := make([][]float64, len(ts))
		p99 := make([][]float64, len(ts))
		for round := range e.o.rounds {
			for _, i := range order(len(ts), round) {
				t := ts[i]
				dsn, err := e.dsn(t.addr, prepared)
				if err != nil {
					return err
				}
				lat, err := roundTrips(ctx, dsn, e.o.roundTrips, prepared)
				if err != nil {
					return fmt.Errorf("round trips through %s: %w", t.name, err)
				}
				p50[i] = append(p50[i], us(quantile(lat, 0.50)))
				p99[i] = append(p99[i], us(quantile(lat, 0.99)))
			}
		}
		name := "`SELECT 1` (text)"
		if prepared {
			name = "`SELECT ?` (prepared)"
		}
		h50, q50 := median(p50[1]), median(p50[2])
		h99, q99 := median(p99[1]), median(p99[2])
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %+.1f %s | %.1f | %.1f | %.1f | %+.1f %s |\n", name,
			median(p50[0]), h50, q50, q50-h50, mark(q50 <= h50+10),
			median(p99[0]), h99, q99, q99-h99, mark(q99 <= h99+50))
	}
	return nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// streamTest streams a big result through a fresh relay of each kind and
// samples the relay's RSS while it does.
func (e *env) streamTest(ctx context.Context) error {
	hap, ql, stop, err := e.relays()
	if err != nil {
		return err
	}
	defer stop()
	w := e.report
	fmt.Fprintf(w, "\n## Streaming a %d MiB result set\n\n", e.o.streamRows)
	fmt.Fprintf(w, "`SELECT REPEAT('x', 1048576) FROM seq_1_to_%d`, read by a client that discards the rows; relay RSS sampled every 10 ms, on a fresh relay process after one small query. Target: querylens RSS growth < 32 MB.\n\n", e.o.streamRows)
	fmt.Fprintln(w, "| path | time | throughput | relay RSS before | relay RSS peak | growth |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for _, t := range e.targets(hap, ql) {
		dsn, err := e.dsn(t.addr, false)
		if err != nil {
			return err
		}
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			return err
		}
		db.SetMaxOpenConns(1)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return fmt.Errorf("through %s: %w", t.name, err)
		}
		var before int64
		if t.pid != 0 {
			time.Sleep(200 * time.Millisecond)
			if before, err = rssKiB(t.pid); err != nil {
				db.Close()
				return err
			}
		}
		peak := before
		done := make(chan struct{})
		var wg sync.WaitGroup
		if t.pid != 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-done:
						return
					case <-tick.C:
						if r, err := rssKiB(t.pid); err == nil && r > peak {
							peak = r
						}
					}
				}
			}()
		}
		t0 := time.Now()
		n, bytes, err := drain(ctx, db, fmt.Sprintf("SELECT REPEAT('x', 1048576) FROM seq_1_to_%d", e.o.streamRows))
		elapsed := time.Since(t0)
		close(done)
		wg.Wait()
		db.Close()
		if err != nil {
			return fmt.Errorf("through %s: %w", t.name, err)
		}
		if n != e.o.streamRows {
			return fmt.Errorf("through %s: %d rows, want %d", t.name, n, e.o.streamRows)
		}
		mbps := float64(bytes) / 1e6 / elapsed.Seconds()
		if t.pid == 0 {
			fmt.Fprintf(w, "| %s | %.2f s | %.0f MB/s | | | |\n", t.name, elapsed.Seconds(), mbps)
			continue
		}
		growth := float64(peak-before) * 1024 / 1e6
		ok := ""
		if t.name == "querylens" {
			ok = " " + mark(growth < 32)
		}
		fmt.Fprintf(w, "| %s | %.2f s | %.0f MB/s | %.1f MB | %.1f MB | %.1f MB%s |\n", t.name, elapsed.Seconds(), mbps,
			float64(before)*1024/1e6, float64(peak)*1024/1e6, growth, ok)
	}
	return nil
}

// drain runs q and reads every row without keeping it.
func drain(ctx context.Context, db *sql.DB, q string) (rows int, bytes int64, err error) {
	rs, err := db.QueryContext(ctx, q)
	if err != nil {
		return 0, 0, err
	}
	defer rs.Close()
	var b sql.RawBytes
	for rs.Next() {
		if err := rs.Scan(&b); err != nil {
			return rows, bytes, err
		}
		rows++
		bytes += int64(len(b))
	}
	return rows, bytes, rs.Err()
}

// idleTest opens n connections through a fresh relay of each kind, leaves
// them idle, and measures the relay's RSS growth per connection.
func (e *env) idleTest(ctx context.Context) error {
	hap, ql, stop, err := e.relays()
	if err != nil {
		return err
	}
	defer stop()
	n := e.o.idleConns
	w := e.report
	fmt.Fprintf(w, "\n## Memory per idle connection\n\n")
	fmt.Fprintf(w, "%d logged-in connections (go-sql-driver, one ping each) held idle through a fresh relay; RSS 2 s after the last one opened, minus RSS with one connection. Target: querylens ≤ 64 KiB per connection.\n\n", n)
	fmt.Fprintln(w, "| relay | RSS with 1 connection | RSS with all open | per connection |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, t := range e.targets(hap, ql)[1:] {
		dsn, err := e.dsn(t.addr, false)
		if err != nil {
			return err
		}
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			return err
		}
		db.SetMaxOpenConns(n + 1)
		db.SetMaxIdleConns(n + 1)
		db.SetConnMaxIdleTime(0)
		before, perConn, after, err := holdIdle(ctx, db, t.pid, n)
		db.Close()
		if err != nil {
			return fmt.Errorf("through %s: %w", t.name, err)
		}
		ok := ""
		if t.name == "querylens" {
			ok = " " + mark(perConn <= 64)
		}
		fmt.Fprintf(w, "| %s | %.1f MB | %.1f MB | %.1f KiB%s |\n", t.name, float64(before)*1024/1e6, float64(after)*1024/1e6, perConn, ok)
	}
	return nil
}

// holdIdle opens n connections on db (50 at a time), measures pid's RSS,
// and closes them. perConn is in KiB.
func holdIdle(ctx context.Context, db *sql.DB, pid, n int) (before int64, perConn float64, after int64, err error) {
	first, err := db.Conn(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	if err := first.PingContext(ctx); err != nil {
		return 0, 0, 0, err
	}
	conns := []*sql.Conn{first}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	time.Sleep(time.Second)
	if before, err = rssKiB(pid); err != nil {
		return 0, 0, 0, err
	}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := db.Conn(ctx)
			if err == nil {
				if err = c.PingContext(ctx); err != nil {
					c.Close()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, 0, fmt.Errorf("opened %d of %d connections: %w", len(conns)-1, n, firstErr)
	}
	time.Sleep(2 * time.Second)
	if after, err = rssKiB(pid); err != nil {
		return 0, 0, 0, err
	}
	return before, float64(after-before) / float64(n), after, nil
}
