package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	alertsFile     = "prometheus/alerts.yml"
	alertsTestFile = "prometheus/alerts_test.yml"
	dashboardFile  = "grafana/querylens-dashboard.json"
)

// promtool returns the path of Prometheus's promtool, which parses rule
// files and PromQL with Prometheus's own code and unit-tests alerts. It
// skips the test when promtool is missing, except under CI=true, where
// .ci/run installs it and its absence is a failure.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("promtool not found; .ci/run installs it (Debian package prometheus)")
	}
	t.Skip("promtool not found: rule checks skipped; install it with: sudo apt-get install prometheus")
	return ""
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAlertRulesParse runs `promtool check rules`: YAML, PromQL, for
// durations and templates as Prometheus itself reads them.
func TestAlertRulesParse(t *testing.T) {
	runPromtool(t, "check", "rules", alertsFile)
}

// TestAlertRulesFire runs the unit tests in alerts_test.yml: synthetic
// series in, the alerts (labels and expanded annotations) that must and
// must not fire out.
func TestAlertRulesFire(t *testing.T) {
	runPromtool(t, "test", "rules", alertsTestFile)
}

// TestPrometheusConfig checks the compose stack's Prometheus configuration
// (syntax only: the token file exists inside the container only).
func TestPrometheusConfig(t *testing.T) {
	runPromtool(t, "check", "config", "--syntax-only", "prometheus/prometheus.yml")
}

// TestDashboardQueriesParse feeds every PromQL expression of the Grafana
// dashboard to promtool as a recording rule, with Grafana's variables
// replaced by values of the right kind.
func TestDashboardQueriesParse(t *testing.T) {
	exprs := dashboardExprs(t)
	vars := strings.NewReplacer(
		"$__rate_interval", "5m", "${__rate_interval}", "5m",
		"$__interval", "1m", "${__interval}", "1m",
		"$__range", "1h", "${__range}", "1h",
		"$instance", ".*", "${instance}", ".*",
	)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		expr := vars.Replace(e.expr)
		if strings.Contains(expr, "$") {
			t.Errorf("%s: %q uses a variable the dashboard does not define: %s", dashboardFile, e.panel, e.expr)
			continue
		}
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: expr})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "check", "rules", path)
}

// panelExpr is one query of the dashboard.
type panelExpr struct{ panel, expr string }

// dashboard is the part of Grafana's dashboard model the tests read.
type dashboard struct {
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name, Type string
			Query      any
			Datasource any
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Title      string          `json:"title"`
	Type       string          `json:"type"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []struct {
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

func dashboardExprs(t *testing.T) []panelExpr {
	t.Helper()
	var out []panelExpr
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, panelExpr{p.Title, tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(readDashboard(t).Panels)
	if len(out) == 0 {
		t.Fatalf("%s: no queries", dashboardFile)
	}
	return out
}

// TestDashboardDatasource checks the dashboard uses a Prometheus
// datasource variable everywhere, so it works with whatever datasource
// Grafana has (provisioned or imported), and that it has the panels the
// deployment guide promises.
func TestDashboardDatasource(t *testing.T) {
	d := readDashboard(t)
	varName := ""
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" {
			varName = v.Name
		}
	}
	if varName == "" {
		t.Fatalf("%s: no datasource variable of type prometheus", dashboardFile)
	}
	want := `{"type":"prometheus","uid":"${` + varName + `}"}`
	check := func(where string, raw json.RawMessage) {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Errorf("%s: datasource: %v", where, err)
			return
		}
		got, _ := json.Marshal(v)
		if string(got) != want {
			t.Errorf("%s: datasource %s, want %s", where, got, want)
		}
	}
	titles := map[string]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			titles[p.Title] = true
			if p.Type != "row" {
				check("panel "+p.Title, p.Datasource)
				for _, tg := range p.Targets {
					check("panel "+p.Title+" query", tg.Datasource)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, title := range []string{
		"Queries per second", "Error rate", "p99 latency per fingerprint (top 10)",
		"Top fingerprints by total time", "Connections", "Bytes per leg", "Decode errors",
		"Dropped events and digest overflow", "New findings by kind",
	} {
		if !titles[title] {
			t.Errorf("%s: no panel %q", dashboardFile, title)
		}
	}
}

// alertRules is the part of a Prometheus rule file the tests read.
type alertRules struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert       string
			Expr        string
			For         string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
}

// TestAlertRulesContent checks what promtool does not: each alert waits
// (for:), has a severity, says what happened and links to the querylens
// API, names the fingerprint when it is about one, and has a unit test.
func TestAlertRulesContent(t *testing.T) {
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf alertRules
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(alertsTestFile)
	if err != nil {
		t.Fatal(err)
	}
	byDigest := regexp.MustCompile(`by \([^)]*\bdigest\b`)
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if r.For == "" {
				t.Errorf("%s: %s has no for: duration", alertsFile, r.Alert)
			}
			if r.Labels["severity"] == "" {
				t.Errorf("%s: %s has no severity label", alertsFile, r.Alert)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: %s needs summary and description annotations", alertsFile, r.Alert)
			}
			if !strings.Contains(r.Annotations["api"], "/api/v1/") {
				t.Errorf("%s: %s: the api annotation %q does not link to the querylens API", alertsFile, r.Alert, r.Annotations["api"])
			}
			if byDigest.MatchString(r.Expr) {
				text := r.Annotations["summary"] + r.Annotations["description"]
				if !strings.Contains(text, "$labels.digest") || !strings.Contains(text, "querylens_statement_info") {
					t.Errorf("%s: %s is per fingerprint: name it ($labels.digest and the fingerprint from querylens_statement_info)", alertsFile, r.Alert)
				}
			}
			if !strings.Contains(string(tests), "alertname: "+r.Alert+"\n") {
				t.Errorf("%s: %s has no unit test", alertsTestFile, r.Alert)
			}
		}
	}
	for _, want := range []string{`querylens_findings_total{kind="n_plus_one"}`, "offset 1d", "histogram_quantile(0.99"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s: no rule uses %s", alertsFile, want)
		}
	}
	if n == 0 {
		t.Fatalf("%s: no alerts", alertsFile)
	}
}
