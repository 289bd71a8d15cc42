package deploy_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/querylens/querylens/internal/testdb"
)

// metricRef matches a querylens metric name anywhere in a file.
var metricRef = regexp.MustCompile(`querylens_[a-z0-9_]+`)

// labelList matches the label lists of by, without, on, ignoring and
// group_left/group_right in PromQL.
var labelList = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)

// selector matches a metric name with its label matchers; matcherEq an
// equality matcher inside (not =~, != or !~). In JSON the quotes are
// escaped, hence the optional backslash.
var (
	selector  = regexp.MustCompile(`(querylens_[a-z0-9_]+)\{([^}]*)\}`)
	matcherEq = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)=\\?"([^"\\]*)\\?"`)
)

// Files whose metric names and labels must exist in a running proxy.
var metricFiles = []string{alertsFile, alertsTestFile, dashboardFile, "README.md"}

// scrape is what one /metrics page says.
type scrape struct {
	families map[string]string // name → type (counter, gauge, histogram, ...)
	labels   map[string]bool   // label names on any querylens_* sample
	pairs    map[string]bool   // `family label="value"` of every sample
}

func parseMetrics(r io.Reader) (scrape, error) {
	s := scrape{families: map[string]string{}, labels: map[string]bool{}, pairs: map[string]bool{}}
	sample := regexp.MustCompile(`^(querylens_[a-z0-9_]+)\{(.*)\} `)
	labelName := regexp.MustCompile(`(?:^|,)([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			s.families[f[2]] = f[3]
			continue
		}
		if m := sample.FindStringSubmatch(line); m != nil {
			for _, l := range labelName.FindAllStringSubmatch(m[2], -1) {
				s.labels[l[1]] = true
				s.pairs[m[1]+" "+l[1]+"="+strconv.Quote(l[2])] = true
			}
		}
	}
	return s, sc.Err()
}

// has reports whether name is a family, or a _bucket/_sum/_count series
// of a histogram or summary family.
func (s scrape) has(name string) bool {
	if _, ok := s.families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if typ := s.families[base]; typ == "histogram" || (typ == "summary" && suffix != "_bucket") {
				return true
			}
		}
	}
	return false
}

// TestMetricNamesExist runs querylens with the compose stack's flags in
// front of a throwaway MariaDB, drives statements through it (one of them
// failing) so that per-digest series exist, scrapes /metrics, and requires
// every querylens_* name used by the alert rules, their unit tests, the
// dashboard and the deployment guide to be there (histogram names with
// their _bucket, _sum and _count suffixes), and every label those files
// group or join by to be on some series.
func TestMetricNamesExist(t *testing.T) {
	srv := testdb.Require(t)
	bin := binary(t)
	var compose invocation
	for _, inv := range composeInvocations(t) {
		compose = inv
	}
	p := startHealthy(t, bin, compose, srv.Addr)

	db, err := sql.Open("mysql", srv.DSN(p.listen, testdb.Schema))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, q := range []string{
		"DROP TABLE IF EXISTS deploy_items",
		"CREATE TABLE deploy_items (id INT PRIMARY KEY, name VARCHAR(20))",
		"INSERT INTO deploy_items VALUES (1, 'a'), (2, 'b'), (3, 'c')",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for id := 1; id <= 3; id++ {
		var name string
		if err := db.QueryRowContext(ctx, "SELECT name FROM deploy_items WHERE id = ?", id).Scan(&name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, "SELECT * FROM deploy_no_such_table"); err == nil {
		t.Fatal("a query on a missing table succeeded")
	}

	// The statistics publish snapshots periodically: scrape until the
	// failed statement's per-digest series are in.
	var s scrape
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err = scrapeMetrics(p.http)
		if err != nil {
			t.Fatal(err)
		}
		if s.families["querylens_statement_info"] != "" && s.labels["digest"] && erroredOnce(t, p.http) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no per-digest error series in /metrics after 30s; families: %v", keys(s.families))
		}
		time.Sleep(200 * time.Millisecond)
	}

	known := map[string]bool{"instance": true, "job": true, "le": true, "quantile": true, "__name__": true}
	checked := 0
	for _, path := range metricFiles {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		missing := map[string]bool{}
		for _, name := range metricRef.FindAllString(string(b), -1) {
			checked++
			if !s.has(name) {
				missing[name] = true
			}
		}
		for _, name := range keys(missing) {
			t.Errorf("%s uses %s, which a running querylens does not export", path, name)
		}
		if strings.HasSuffix(path, ".md") {
			continue // prose: only metric names are checked
		}
		badLabels := map[string]bool{}
		for _, m := range labelList.FindAllStringSubmatch(string(b), -1) {
			for _, l := range strings.Split(m[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !known[l] && !s.labels[l] {
					badLabels[l] = true
				}
			}
		}
		for _, l := range keys(badLabels) {
			t.Errorf("%s groups or joins by label %q, which no querylens series has", path, l)
		}
		// Fixed label values in selectors (kind="n_plus_one",
		// direction="client_to_server") must be ones querylens exports;
		// the per-deployment labels are exempt.
		if path == alertsTestFile {
			continue // synthetic series
		}
		for _, m := range selector.FindAllStringSubmatch(string(b), -1) {
			for _, eq := range matcherEq.FindAllStringSubmatch(m[2], -1) {
				if known[eq[1]] || eq[1] == "digest" || eq[1] == "schema" {
					continue
				}
				if !s.has(m[1]) {
					continue // reported above
				}
				family := m[1]
				if _, ok := s.families[family]; !ok {
					family = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(family, "_bucket"), "_sum"), "_count")
				}
				if !s.pairs[family+" "+eq[1]+"="+strconv.Quote(eq[2])] {
					t.Errorf("%s selects %s{%s=%q}, a label value querylens does not export", path, m[1], eq[1], eq[2])
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no metric names found in the rules and dashboard")
	}
}

// erroredOnce reports whether /metrics already counts a failed statement.
func erroredOnce(t *testing.T, addr string) bool {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "querylens_statement_errors_total{") && !strings.HasSuffix(line, " 0") {
			return true
		}
	}
	return false
}

func scrapeMetrics(addr string) (scrape, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return scrape{}, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return scrape{}, fmt.Errorf("scrape: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return slices.Clip(out)
}
