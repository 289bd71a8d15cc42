package capture_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the capture reader pure Go and on its side of the
// design: it feeds protocol sessions and hands events to a function; it
// does not aggregate, log or serve, and never needs cgo or libpcap.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	forbidden := map[string]string{
		"github.com/gopacket/gopacket/pcap":    "cgo and libpcap: read files with pcapgo",
		"github.com/querylens/querylens/stats": "events go to a handler; cmd wires the engine",
		"github.com/querylens/querylens/proxy": "offline analysis has no relay",
		"go.uber.org/zap":                      "no logging: counts are returned in Stats",
	}
	for _, dep := range strings.Fields(string(out)) {
		if why, bad := forbidden[dep]; bad {
			t.Errorf("capture depends on %s: %s", dep, why)
		}
	}
}
