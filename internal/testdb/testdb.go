// Package testdb boots throwaway MariaDB servers for tests: each lives in its
// own temporary directory (datadir, socket, pid and log files), listens on a
// free loopback port, and is stopped by its own pid. A package shares one
// server between its tests: call Require from a test and RunMain from
// TestMain.
//
// When no mariadbd binary is found the tests that need it skip with a hint on
// how to install one, except when CI=true, where they fail.
package testdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Test credentials created on every server. The user authenticates with
// mysql_native_password over TCP and over the socket.
const (
	User     = "ql"
	Password = "ql-secret-pw"
	Schema   = "harness"
)

// InstallHint tells a developer how to get a server binary.
const InstallHint = "install one with: sudo apt-get install mariadb-server mariadb-client"

// Server is a running throwaway mariadbd.
type Server struct {
	Addr    string // 127.0.0.1:PORT
	Port    int
	Socket  string
	Dir     string
	Version string

	cmd  *exec.Cmd
	done chan error
}

// Options tune Start. The zero value is fine.
type Options struct {
	// Args are extra mariadbd arguments, such as "--ssl-cert=...".
	Args []string
}

// Binary returns the path of mariadbd (or mysqld), or "" when none is installed.
func Binary() string { return findTool("mariadbd", "mysqld") }

// findTool looks names up on PATH, then in the usual install directories
// (a minimal PATH often lacks the sbin ones).
func findTool(names ...string) string {
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/usr/local/mysql/bin"} {
			p := filepath.Join(dir, name)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return ""
}

// Start initialises a datadir and boots a server on a free loopback port.
func Start(opts Options) (*Server, error) {
	bin := Binary()
	if bin == "" {
		return nil, errors.New("no mariadbd binary found; " + InstallHint)
	}
	install := findTool("mariadb-install-db", "mysql_install_db")
	if install == "" {
		return nil, errors.New("no mariadb-install-db found; " + InstallHint)
	}
	// Keep the path short: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "qldb-")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	out, err := exec.Command(install, "--no-defaults", "--datadir="+data, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("mariadb-install-db: %w: %s", err, lastLines(out, 5))
	}
	var lastErr error
	for range 3 { // the free port may be taken between probe and bind
		s, err := boot(bin, dir, data, opts)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func boot(bin, dir, data string, opts Options) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Port:   port,
		Socket: filepath.Join(dir, "s.sock"),
		Dir:    dir,
		done:   make(chan error, 1),
	}
	logFile := filepath.Join(dir, "error.log")
	args := []string{
		"--no-defaults",
		"--datadir=" + data,
		"--socket=" + s.Socket,
		"--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--pid-file=" + filepath.Join(dir, "mariadbd.pid"),
		"--log-error=" + logFile,
		"--user=root",
		"--skip-name-resolve",
		"--performance-schema=ON",
		"--performance-schema-digests-size=10000",
		"--max-allowed-packet=256M",
		"--max-connections=2000",
		"--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=48M",
		"--innodb-flush-log-at-trx-commit=0",
		"--skip-log-bin",
		"--local-infile=1",
		"--character-set-server=utf8mb4",
	}
	args = append(args, opts.Args...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.done <- s.cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-s.done:
			b, _ := os.ReadFile(logFile)
			return nil, fmt.Errorf("mariadbd exited during start (%v): %s", err, lastLines(b, 8))
		default:
		}
		if c, err := net.DialTimeout("unix", s.Socket, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("mariadbd did not become ready within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.setup(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) setup() error {
	db, err := sql.Open("mysql", "root@unix("+s.Socket+")/")
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stmts := []string{
		"CREATE DATABASE IF NOT EXISTS " + Schema,
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", User, Password),
		fmt.Sprintf("CREATE USER '%s'@'localhost' IDENTIFIED BY '%s'", User, Password),
		fmt.Sprintf("GRANT ALL ON *.* TO '%s'@'%%' WITH GRANT OPTION", User),
		fmt.Sprintf("GRANT ALL ON *.* TO '%s'@'localhost' WITH GRANT OPTION", User),
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("setup %q: %w", q, err)
		}
	}
	return db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&s.Version)
}

// Stop kills the server by its pid and removes its directory.
func (s *Server) Stop() error {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	return os.RemoveAll(s.Dir)
}

// DSN returns a go-sql-driver/mysql DSN for the test user over TCP to addr
// (the server itself when addr is empty, or a proxy in front of it).
func (s *Server) DSN(addr, schema string) string {
	if addr == "" {
		addr = s.Addr
	}
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = User, Password, "tcp", addr, schema
	if strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "/") {
		c.Net, c.Addr = "unix", strings.TrimPrefix(addr, "unix:")
	}
	c.AllowNativePasswords = true
	c.MultiStatements = true
	c.InterpolateParams = true
	return c.FormatDSN()
}

// Root opens a root connection over the server's unix socket, for checks
// that must bypass any proxy (performance_schema, status counters).
func (s *Server) Root() (*sql.DB, error) {
	return sql.Open("mysql", "root@unix("+s.Socket+")/?multiStatements=true")
}

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
)

// Require returns the package's shared server, booting it on first use. It
// skips the test when no server binary is installed, and fails it when
// CI=true.
func Require(t testing.TB) *Server {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("real-server test skipped in -short mode")
	}
	sharedOnce.Do(func() {
		if Binary() == "" || findTool("mariadb-install-db", "mysql_install_db") == "" {
			sharedErr = errSkip
			return
		}
		shared, sharedErr = Start(Options{})
	})
	switch {
	case sharedErr == errSkip && os.Getenv("CI") != "true":
		t.Skip("no mariadbd binary: real-server test skipped; " + InstallHint)
	case sharedErr != nil:
		t.Fatalf("throwaway server: %v", sharedErr)
	}
	return shared
}

var errSkip = errors.New("no server binary")

// RunMain runs the package's tests and stops the shared server afterwards.
// Use it as: func TestMain(m *testing.M) { os.Exit(testdb.RunMain(m)) }
func RunMain(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		_ = shared.Stop()
	}
	return code
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
