package testdb

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MySQL9 is an unmodified MySQL 9 server run through the project's
// mysql9.sh tool (it unpacks Debian's mysql-server-core into a private
// sysroot; nothing is installed system-wide).
type MySQL9 struct {
	Script   string
	Port     int
	Addr     string
	Socket   string
	CA       string // the server's auto-generated CA certificate
	User     string // a caching_sha2_password user with all privileges
	Password string
}

// mysql9Script finds mysql9.sh: $QUERYLENS_MYSQL9_SCRIPT, or
// shared/tools/mysql9.sh beside the repository.
func mysql9Script() string {
	if p := os.Getenv("QUERYLENS_MYSQL9_SCRIPT"); p != "" {
		return p
	}
	dir, _ := os.Getwd()
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(filepath.Dir(d), "shared", "tools", "mysql9.sh")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			return ""
		}
	}
	return ""
}

// StartMySQL9 sets up (downloading on first use) and starts a MySQL 9
// server for the test, and stops and wipes it at the end. Setting it up
// needs Debian's package mirror; when that or the script is unavailable
// the test is skipped with the reason, in CI too (the tool downloads, so
// its absence is not the project's failure).
func StartMySQL9(t testing.TB) *MySQL9 {
	t.Helper()
	if testing.Short() {
		t.Skip("MySQL 9 test skipped in -short mode")
	}
	script := mysql9Script()
	if script == "" {
		t.Skip("SKIPPED LOUDLY: mysql9.sh not found (set QUERYLENS_MYSQL9_SCRIPT); MySQL 9 tests did not run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "bash", script, "setup").CombinedOutput(); err != nil {
		t.Skipf("SKIPPED LOUDLY: MySQL 9 could not be set up (%v): %s", err, lastLines(out, 5))
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, "bash", script, "start", strconv.Itoa(port)).CombinedOutput(); err != nil {
		t.Fatalf("mysql9.sh start: %v: %s", err, lastLines(out, 8))
	}
	t.Cleanup(func() {
		exec.Command("bash", script, "stop", strconv.Itoa(port)).Run()
		exec.Command("bash", script, "wipe", strconv.Itoa(port)).Run()
	})
	out, err := exec.CommandContext(ctx, "bash", script, "env", strconv.Itoa(port)).Output()
	if err != nil {
		t.Fatalf("mysql9.sh env: %v", err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return &MySQL9{
		Script: script, Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port),
		Socket: env["MYSQL9_SOCKET"], CA: env["MYSQL9_CA"],
		User: env["MYSQL9_USER"], Password: env["MYSQL9_PASSWORD"],
	}
}

// Client returns the MySQL 9 command-line client with args.
func (m *MySQL9) Client(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "bash", append([]string{m.Script, "tool", "mysql"}, args...)...)
}

// RootClient returns the MySQL 9 client connected as root over the socket.
func (m *MySQL9) RootClient(ctx context.Context, args ...string) *exec.Cmd {
	return m.Client(ctx, append([]string{"--socket=" + m.Socket, "-uroot"}, args...)...)
}
