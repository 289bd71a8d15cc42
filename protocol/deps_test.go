package protocol_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the decoder a pure function of its input: it must
// not reach the network, start processes, or log, and it must not depend on
// the rest of querylens (protocol imports the standard library
// plus a zstd decoder only).
func TestDependencies(t *testing.T) {
	list := func(args ...string) []string {
		out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
		if err != nil {
			t.Skipf("go list unavailable: %v", err)
		}
		return strings.Fields(string(out))
	}
	const self = "github.com/querylens/querylens/protocol"
	const zstd = "github.com/klauspost/compress"
	forbidden := map[string]string{
		"net":      "the decoder never touches sockets: the proxy owns them",
		"net/http": "the decoder never touches sockets",
		"os/exec":  "no processes",
	}
	for _, dep := range list("-deps", ".") {
		if dep == self {
			continue
		}
		if why, bad := forbidden[dep]; bad {
			t.Errorf("protocol depends on %s: %s", dep, why)
		}
		first, _, _ := strings.Cut(dep, "/")
		if strings.Contains(first, ".") && dep != zstd && !strings.HasPrefix(dep, zstd+"/") {
			t.Errorf("protocol depends on %s: only the standard library and %s are allowed", dep, zstd)
		}
	}
	// Direct imports only: the zstd package itself imports log for its
	// (compiled-out) debug output.
	for _, imp := range list("-f", `{{join .Imports "\n"}}`, ".") {
		switch imp {
		case "log", "log/slog", "fmt":
			t.Errorf("protocol imports %s: no logging or formatting on the hot path; errors are returned, events handed over", imp)
		}
	}
}
