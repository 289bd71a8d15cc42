package stats_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps stats on its side of the design's dependency line
// (cmd → stats → fingerprint): it must not reach sockets or the packages
// that own them.
func TestDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	list := func(format string) []string {
		out, err := exec.Command(goBin, "list", "-e", "-f", format, ".").Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		return strings.Fields(string(out))
	}

	// Direct imports: the package serves HTTP but never touches a socket
	// itself (net/http pulls in net, which is fine).
	for _, imp := range list(`{{join .Imports " "}}`) {
		if imp == "net" || (strings.HasPrefix(imp, "net/") && imp != "net/http") {
			t.Errorf("stats imports %s: socket work belongs to proxy and cmd", imp)
		}
	}

	// Transitive dependencies: nothing from the relay or the command.
	const mod = "github.com/querylens/querylens/"
	for _, dep := range list(`{{join .Deps " "}}`) {
		for _, bad := range []string{"proxy", "cmd"} {
			if dep == mod+bad || strings.HasPrefix(dep, mod+bad+"/") {
				t.Errorf("stats depends on %s: the relay feeds stats through an interface, never the other way round", dep)
			}
		}
	}
}
