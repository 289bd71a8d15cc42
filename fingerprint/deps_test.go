package fingerprint_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const (
	tidbParser = "github.com/pingcap/tidb/pkg/parser"
	xxhashPkg  = "github.com/cespare/xxhash/v2"
)

// goList runs `go list` (with -deps when deps is set) with a template over
// pkgs and returns the non-empty output lines.
func goList(t *testing.T, deps bool, format string, pkgs ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found")
	}
	args := []string{"list", "-f", format}
	if deps {
		args = append(args, "-deps")
	}
	args = append(args, pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestDeps keeps fingerprint a leaf: it may import the standard library,
// xxhash and the TiDB parser (with whatever the parser itself needs), and
// nothing else. In particular no other querylens package (stats imports
// fingerprint, not the reverse), and no zap or Prometheus of its own.
func TestDeps(t *testing.T) {
	const nonStd = `{{if not .Standard}}{{.ImportPath}}{{end}}`

	// Direct imports: the standard library, xxhash and parser packages only.
	var tidb []string
	for _, imp := range goList(t, false, `{{join .Imports "\n"}}`, ".") {
		switch {
		case imp == xxhashPkg:
		case imp == tidbParser || strings.HasPrefix(imp, tidbParser+"/"):
			tidb = append(tidb, imp)
		case !strings.Contains(strings.Split(imp, "/")[0], "."): // standard library
		default:
			t.Errorf("fingerprint imports %s; only the standard library, %s and %s are allowed", imp, xxhashPkg, tidbParser)
		}
	}
	if len(tidb) == 0 {
		t.Fatalf("fingerprint no longer imports %s: update this test", tidbParser)
	}

	// Everything else must come in through the parser.
	allowed := map[string]bool{xxhashPkg: true}
	for _, p := range goList(t, true, nonStd, tidb...) {
		allowed[p] = true
	}
	self := goList(t, false, "{{.ImportPath}}", ".")[0]
	for _, p := range goList(t, true, nonStd, ".") {
		switch {
		case p == self || allowed[p]:
		case strings.HasPrefix(p, "github.com/querylens/"):
			t.Errorf("fingerprint depends on %s: querylens packages import fingerprint, never the reverse", p)
		default:
			t.Errorf("fingerprint depends on %s, which neither it nor the TiDB parser needs", p)
		}
	}
	for p := range allowed {
		if strings.HasPrefix(p, "github.com/prometheus/") || strings.HasPrefix(p, "github.com/querylens/") {
			t.Errorf("the TiDB parser now pulls in %s", p)
		}
	}
	if !slices.Contains(goList(t, true, nonStd, "."), tidbParser) {
		t.Errorf("%s missing from the dependency list", tidbParser)
	}
}
