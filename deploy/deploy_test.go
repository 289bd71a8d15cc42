package deploy_test

// These tests keep deploy/ honest against the real binary: every file
// parses, every flag and QUERYLENS_* variable a manifest uses is one that
// `querylens --help` lists, every command line a manifest runs starts the
// real binary, and the ports the manifests publish, probe and scrape are the
// ones querylens listens on. manifests_test.go reads the compose and
// Kubernetes files, dockerfile_test.go checks the image recipe,
// promql_test.go the alert rules and dashboard queries, metrics_test.go the
// metric names against a live proxy.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/querylens/querylens/internal/testdb"
)

func TestMain(m *testing.M) {
	code := testdb.RunMain(m)
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// deployDir is where the artifacts live: the test runs in deploy/.
const deployDir = "."

// built is the querylens binary shared by the package's tests.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// buildFlags are the go build flags of the image (see dockerfile_test.go,
// which checks that deploy/Dockerfile uses the same).
var buildFlags = []string{"-tags", "nodemo", "-trimpath", "-ldflags", "-s -w"}

// binary builds ./cmd/querylens once, the way deploy/Dockerfile does
// (CGO_ENABLED=0, -trimpath, -ldflags "-s -w"), and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			built.err = err
			return
		}
		built.dir, built.err = os.MkdirTemp("", "querylens-deploy-*")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "querylens")
		args := append([]string{"build"}, buildFlags...)
		args = append(args, "-o", built.path, "./cmd/querylens")
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build ./cmd/querylens: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// moduleRoot returns the directory of the module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// helpInfo is what `querylens --help` says about the flags of run.
type helpInfo struct {
	flags      map[string]string // flag name → default ("" when none)
	envToFlg   map[string]string // QUERYLENS_* → flag name
	deprecated map[string]bool   // flags whose usage says "deprecated"
}

var helpLine = regexp.MustCompile(`^\s+--([a-z0-9-]+)\t.*?(?: \(default (.*)\))? \[(QUERYLENS_[A-Z0-9_]+)\]$`)

// help runs `querylens --help` and parses its flag lines.
func help(t *testing.T) helpInfo {
	t.Helper()
	out, err := exec.Command(binary(t), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("querylens --help: %v\n%s", err, out)
	}
	h := helpInfo{flags: map[string]string{}, envToFlg: map[string]string{}, deprecated: map[string]bool{}}
	for _, line := range strings.Split(string(out), "\n") {
		if m := helpLine.FindStringSubmatch(line); m != nil {
			h.flags[m[1]] = m[2]
			h.envToFlg[m[3]] = m[1]
			h.deprecated[m[1]] = strings.Contains(strings.ToLower(line), "deprecated")
		}
	}
	// The usage must list the flags every manifest relies on; if its
	// format changes, fail here rather than pass with an empty set.
	for _, f := range []string{"listen", "upstream", "http"} {
		if _, ok := h.flags[f]; !ok {
			t.Fatalf("querylens --help does not list --%s (or its format changed):\n%s", f, out)
		}
	}
	return h
}

// invocation is one way a manifest runs querylens.
type invocation struct {
	where string            // file and place, for messages
	args  []string          // arguments after the binary
	env   map[string]string // environment the manifest sets
	// ports the manifest declares for the container (EXPOSE, containerPort,
	// compose ports) and the ports it probes or scrapes.
	declared []int
	probed   []int
	// stopGrace is how long the supervisor waits after SIGTERM before it
	// kills querylens (0: not set by this manifest).
	stopGrace time.Duration
}

// flagUse is one flag on a command line.
type flagUse struct{ name, value string }

// parseArgs splits a querylens command line (without the binary) into its
// flags. A leading "run" sub-command is allowed. Values may follow "=" or
// come as the next argument; a flag with neither is a boolean set to true.
func parseArgs(args []string) ([]flagUse, error) {
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
	}
	var uses []flagUse
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return nil, fmt.Errorf("unexpected argument %q", a)
		}
		name := strings.TrimLeft(a, "-")
		if n, v, ok := strings.Cut(name, "="); ok {
			uses = append(uses, flagUse{n, v})
			continue
		}
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			uses = append(uses, flagUse{name, args[i+1]})
			i++
			continue
		}
		uses = append(uses, flagUse{name, "true"}) // a bare boolean flag
	}
	return uses, nil
}

// effective returns the value querylens uses for flag name in inv: the
// command line, else the environment, else the default.
func (h helpInfo) effective(t *testing.T, inv invocation, name string) string {
	t.Helper()
	uses, err := parseArgs(inv.args)
	if err != nil {
		t.Fatalf("%s: %v", inv.where, err)
	}
	var vals []string
	for _, u := range uses {
		if u.name == name {
			vals = append(vals, u.value)
		}
	}
	if len(vals) > 0 {
		return strings.Join(vals, ",")
	}
	for env, f := range h.envToFlg {
		if f == name {
			if v, ok := inv.env[env]; ok {
				return v
			}
		}
	}
	return h.flags[name]
}

// portsOf returns the TCP ports of a comma-separated address list.
func portsOf(addrs string) []int {
	var ports []int
	for _, a := range strings.Split(addrs, ",") {
		a = strings.TrimSpace(a)
		if a == "" || strings.HasPrefix(a, "unix:") || strings.HasPrefix(a, "/") {
			continue
		}
		if _, p, err := net.SplitHostPort(a); err == nil {
			if n, err := strconv.Atoi(p); err == nil {
				ports = append(ports, n)
			}
		}
	}
	return ports
}

// invocations collects every querylens command line in deploy/.
func invocations(t *testing.T) []invocation {
	t.Helper()
	var invs []invocation
	invs = append(invs, dockerfileInvocation(t))
	invs = append(invs, composeInvocations(t)...)
	invs = append(invs, kubernetesInvocations(t)...)
	invs = append(invs, systemdInvocation(t))
	if len(invs) < 5 {
		t.Fatalf("found %d querylens invocations in deploy/, want the Dockerfile's, compose's, two Kubernetes sidecars' and systemd's", len(invs))
	}
	return invs
}

// TestFilesParse parses every YAML (all documents) and JSON file in deploy/.
func TestFilesParse(t *testing.T) {
	n := 0
	err := filepath.WalkDir(deployDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			n++
			if _, err := yamlDocs(path); err != nil {
				t.Error(err)
			}
		case ".json":
			n++
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Fatalf("parsed %d YAML/JSON files in deploy/, expected the compose, Prometheus, Grafana and Kubernetes files", n)
	}
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(path string) ([]map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, len(docs)+1, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// TestFlagsAndVariablesExist checks every flag on a querylens command line
// in deploy/ and every QUERYLENS_* variable anywhere in deploy/ against
// `querylens --help`.
func TestFlagsAndVariablesExist(t *testing.T) {
	h := help(t)
	for _, inv := range invocations(t) {
		uses, err := parseArgs(inv.args)
		if err != nil {
			t.Errorf("%s: %v", inv.where, err)
			continue
		}
		for _, u := range uses {
			if _, ok := h.flags[u.name]; !ok {
				t.Errorf("%s: flag --%s is not one querylens --help lists", inv.where, u.name)
			}
			if h.deprecated[u.name] {
				t.Errorf("%s: flag --%s is deprecated", inv.where, u.name)
			}
		}
	}
	// Variables: every QUERYLENS_* name anywhere in deploy/ (manifests,
	// README, comments).
	envRef := regexp.MustCompile(`QUERYLENS_[A-Z0-9_]+`)
	// Command lines in the docs: "querylens --flag ..." and an image run
	// as "querylens:TAG --flag ...".
	flagRef := regexp.MustCompile(`(?m)(?:^\s*(?:\$ )?querylens|querylens:[a-z0-9.]+)( [^\n]*)$`)
	err := filepath.WalkDir(deployDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, env := range envRef.FindAllString(string(b), -1) {
			f, ok := h.envToFlg[env]
			if !ok {
				t.Errorf("%s: variable %s is not one querylens --help lists", path, env)
			}
			if h.deprecated[f] {
				t.Errorf("%s: variable %s (--%s) is deprecated", path, env, f)
			}
		}
		if filepath.Ext(path) == ".md" {
			for _, m := range flagRef.FindAllStringSubmatch(string(b), -1) {
				for _, f := range regexp.MustCompile(`(?:^|\s)--([a-z0-9-]+)`).FindAllStringSubmatch(m[1], -1) {
					if _, ok := h.flags[f[1]]; !ok {
						t.Errorf("%s: %q uses --%s, which querylens --help does not list", path, strings.TrimSpace(m[0]), f[1])
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPortsMatchFlags checks that each port a manifest declares, probes or
// scrapes is one querylens listens on given that manifest's flags.
func TestPortsMatchFlags(t *testing.T) {
	h := help(t)
	for _, inv := range invocations(t) {
		listen := portsOf(h.effective(t, inv, "listen"))
		httpPorts := portsOf(h.effective(t, inv, "http"))
		all := append(slices.Clone(listen), httpPorts...)
		for _, p := range inv.declared {
			if !slices.Contains(all, p) {
				t.Errorf("%s: declares port %d, but querylens listens on %v (--listen) and %v (--http)", inv.where, p, listen, httpPorts)
			}
		}
		for _, p := range inv.probed {
			if !slices.Contains(httpPorts, p) {
				t.Errorf("%s: probes or scrapes port %d, but the HTTP endpoint (--http) is on %v", inv.where, p, httpPorts)
			}
		}
	}
}

// TestHTTPExposure checks each deployment against querylens's exposure
// rule: an HTTP endpoint bound beyond loopback needs --http-token (every
// request but /healthz must then carry it) or an explicit --http-insecure.
// The bare image is exempt: it binds 0.0.0.0 and so refuses to start until
// the deployment gives it a token, which is the point.
func TestHTTPExposure(t *testing.T) {
	h := help(t)
	for _, inv := range invocations(t) {
		if inv.where == "Dockerfile" {
			continue
		}
		addr := h.effective(t, inv, "http")
		if addr == "" || strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "/") {
			continue
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			t.Errorf("%s: --http=%s: %v", inv.where, addr, err)
			continue
		}
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			continue
		}
		if h.effective(t, inv, "http-token") == "" && h.effective(t, inv, "http-insecure") != "true" {
			t.Errorf("%s: --http=%s is not loopback, and no --http-token (QUERYLENS_HTTP_TOKEN) is given", inv.where, addr)
		}
	}
}

// TestStopGraceCoversDrain checks that each supervisor waits after SIGTERM
// longer than querylens's --shutdown-timeout, so the drain of commands in
// flight is not cut short by a kill.
func TestStopGraceCoversDrain(t *testing.T) {
	h := help(t)
	for _, inv := range invocations(t) {
		if inv.where == "Dockerfile" {
			continue // the image leaves it to docker run --stop-timeout
		}
		drain, err := time.ParseDuration(h.effective(t, inv, "shutdown-timeout"))
		if err != nil {
			t.Fatalf("%s: --shutdown-timeout: %v", inv.where, err)
		}
		if inv.stopGrace <= drain {
			t.Errorf("%s: the stop grace period (%v) does not exceed --shutdown-timeout (%v)", inv.where, inv.stopGrace, drain)
		}
	}
}

// TestSystemdUnit runs systemd-analyze verify on the unit (with ExecStart
// pointing at the freshly built binary): unknown keys, bad values and
// missing executables are reported.
func TestSystemdUnit(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found: unit not verified; it comes with the systemd package")
	}
	b, err := os.ReadFile("querylens.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(b), "ExecStart=/usr/local/bin/querylens", "ExecStart="+binary(t))
	path := filepath.Join(t.TempDir(), "querylens.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestCommandLinesStart runs every querylens command line of deploy/ (its
// flags and variables, with addresses moved to free loopback ports and
// paths into a temporary directory) and requires /healthz to answer: the
// flag values are valid, not just the names.
func TestCommandLinesStart(t *testing.T) {
	bin := binary(t)
	for _, inv := range invocations(t) {
		t.Run(strings.NewReplacer("/", "_", " ", "_").Replace(inv.where), func(t *testing.T) {
			startHealthy(t, bin, inv, "127.0.0.1:1")
		})
	}
}

// proc is a querylens process started by a test.
type proc struct {
	cmd      *exec.Cmd
	listen   string // first client address
	http     string // HTTP address
	stderr   *bytes.Buffer
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// interpolation matches compose-style ${VAR...} references.
var interpolation = regexp.MustCompile(`\$\{[^}]*\}`)

// startLocal starts querylens with inv's flags and variables, rewritten to
// run here: --listen and --http on free loopback ports, --upstream to
// upstream, absolute paths under a temporary directory, compose ${...}
// references replaced by a test value. The process is stopped by its pid
// when the test ends.
func startLocal(t *testing.T, bin string, inv invocation, upstream string) *proc {
	t.Helper()
	dir := t.TempDir()
	p := &proc{listen: freeAddr(t), http: freeAddr(t), stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	rewrite := func(name, value string) string {
		switch name {
		case "listen":
			return p.listen
		case "http":
			return p.http
		case "upstream":
			return upstream
		}
		value = interpolation.ReplaceAllString(value, "deploy-test-value")
		if strings.HasPrefix(value, "/") {
			path := filepath.Join(dir, value)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			return path
		}
		return value
	}
	uses, err := parseArgs(inv.args)
	if err != nil {
		t.Fatalf("%s: %v", inv.where, err)
	}
	args := []string{"run"}
	seen := map[string]bool{}
	for _, u := range uses {
		if u.name == "listen" && seen[u.name] {
			continue // one client listener is enough here
		}
		seen[u.name] = true
		args = append(args, "--"+u.name+"="+rewrite(u.name, u.value))
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "QUERYLENS_") {
			env = append(env, kv)
		}
	}
	for k, v := range inv.env {
		name := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, "QUERYLENS_"), "_", "-"))
		env = append(env, k+"="+rewrite(name, v))
	}
	// Whatever the manifest leaves to defaults, keep it on this machine's
	// loopback and away from fixed ports.
	for _, f := range []string{"listen", "http", "upstream"} {
		if !seen[f] {
			env = append(env, "QUERYLENS_"+strings.ToUpper(f)+"="+rewrite(f, ""))
		}
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.stop)
	return p
}

// startHealthy starts querylens like startLocal and waits for /healthz.
// A free port can be taken by another process between the probe and the
// bind, so a start that fails on "address already in use" is retried.
func startHealthy(t *testing.T, bin string, inv invocation, upstream string) *proc {
	t.Helper()
	var err error
	for range 3 {
		p := startLocal(t, bin, inv, upstream)
		if err = p.waitHealthy(20 * time.Second); err == nil {
			return p
		}
		p.stop()
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatal(err)
	return nil
}

// stop sends SIGTERM to the process's own pid and waits; SIGKILL after 15 s.
func (p *proc) stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

// waitHealthy polls /healthz until it answers ok, the process exits, or
// the deadline passes.
func (p *proc) waitHealthy(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("querylens %s exited: %v\n%s", strings.Join(p.cmd.Args[1:], " "), p.waitErr, p.log())
		default:
		}
		resp, err := http.Get("http://" + p.http + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "ok" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("querylens %s: /healthz not ok after %v (last error: %v)\n%s", strings.Join(p.cmd.Args[1:], " "), limit, err, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proc) log() string {
	w := p.cmd.Stderr.(*lockedWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.String()
}

// lockedWriter lets the test read the process's stderr while it runs.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// freeAddr returns a loopback address with a port free at the moment.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// systemdInvocation reads ExecStart and Environment= of querylens.service.
func systemdInvocation(t *testing.T) invocation {
	t.Helper()
	const path = "querylens.service"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inv := invocation{where: path, env: map[string]string{}}
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			fields := strings.Fields(v)
			if len(fields) == 0 || filepath.Base(fields[0]) != "querylens" {
				t.Fatalf("%s: ExecStart does not run querylens: %q", path, line)
			}
			inv.args, found = fields[1:], true
		}
		if v, ok := strings.CutPrefix(line, "TimeoutStopSec="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s: TimeoutStopSec=%s: want seconds", path, v)
			}
			inv.stopGrace = time.Duration(n) * time.Second
		}
		if v, ok := strings.CutPrefix(line, "Environment="); ok {
			for _, kv := range strings.Fields(v) {
				k, val, _ := strings.Cut(strings.Trim(kv, `"`), "=")
				inv.env[k] = val
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("%s: no ExecStart", path)
	}
	return inv
}

// TestRuntimeSettings: the image and the systemd unit run querylens with
// the same GODEBUG, the one bench/cmd/loadcmp measures by default, which
// keeps the runtime's monitor thread from parking between packets
// (docs/performance.md).
func TestRuntimeSettings(t *testing.T) {
	want := "schedtrace=2147483647"
	for _, inv := range []invocation{dockerfileInvocation(t), systemdInvocation(t)} {
		if got := inv.env["GODEBUG"]; got != want {
			t.Errorf("%s: GODEBUG=%q, want %q", inv.where, got, want)
		}
	}
	src, err := os.ReadFile("../bench/cmd/loadcmp/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), `"godebug", "`+want+`"`) {
		t.Errorf("bench/cmd/loadcmp measures another GODEBUG than the one deployed (%s)", want)
	}
}
