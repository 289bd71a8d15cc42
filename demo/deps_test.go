package demo_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinkedOnlyWhereUsed keeps go-mysql-server out of everything but the
// demo: the proxy's packages never reach it, and a querylens built with
// the nodemo tag does not link it.
func TestLinkedOnlyWhereUsed(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	const mod = "github.com/querylens/querylens/"
	deps := func(tags string, pkgs ...string) []string {
		args := append([]string{"list", "-deps", "-tags", tags}, pkgs...)
		out, err := exec.Command(goBin, args...).Output()
		if err != nil {
			t.Fatalf("go list %v: %v", args, err)
		}
		return strings.Fields(string(out))
	}
	heavy := func(dep string) bool {
		return dep == mod+"demo" || strings.HasPrefix(dep, "github.com/dolthub/")
	}
	for _, pkg := range []string{"protocol", "proxy", "fingerprint", "stats", "report", "capture"} {
		for _, dep := range deps("", mod+pkg) {
			if heavy(dep) {
				t.Errorf("%s depends on %s: the embedded server belongs to the demo alone", pkg, dep)
			}
		}
	}
	for _, dep := range deps("nodemo", mod+"cmd/querylens") {
		if heavy(dep) {
			t.Errorf("querylens built with -tags nodemo links %s", dep)
		}
	}
	// And the default build does link it, or the test above proves nothing.
	found := false
	for _, dep := range deps("", mod+"cmd/querylens") {
		found = found || dep == mod+"demo"
	}
	if !found {
		t.Errorf("cmd/querylens does not import %sdemo: the demo command is gone", mod)
	}
}
