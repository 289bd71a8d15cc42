package deploy_test

import (
	"debug/elf"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int
}

// stage is one FROM and the instructions after it.
type stage struct {
	from  string // image reference, ARGs declared before FROM substituted
	name  string // AS name
	instr []instruction
}

// parseDockerfile splits a Dockerfile into stages. It understands what
// deploy/Dockerfile uses: comments, line continuations, ARG defaults
// before the first FROM.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		instrs []instruction
		cur    strings.Builder
		start  int
	)
	for i, raw := range strings.Split(string(b), "\n") {
		line := strings.TrimSpace(raw)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(line, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		instrs = append(instrs, instruction{strings.ToUpper(cmd), strings.TrimSpace(args), start})
		cur.Reset()
	}
	globalArgs := map[string]string{}
	var stages []stage
	for _, in := range instrs {
		switch {
		case in.cmd == "ARG" && len(stages) == 0:
			k, v, _ := strings.Cut(in.args, "=")
			globalArgs[k] = v
		case in.cmd == "FROM":
			ref, name, _ := strings.Cut(in.args, " AS ")
			ref = os.Expand(strings.TrimSpace(ref), func(k string) string { return globalArgs[k] })
			stages = append(stages, stage{from: ref, name: strings.TrimSpace(name)})
		case len(stages) > 0:
			stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, in)
		default:
			t.Fatalf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
		}
	}
	return stages
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instr {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// execForm decodes an exec-form (JSON array) ENTRYPOINT or CMD.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		t.Fatalf("Dockerfile:%d: %s must be in exec form (a JSON array) so signals reach querylens: %v", in.line, in.cmd, err)
	}
	return v
}

// dockerfileInvocation is the image's command line: ENTRYPOINT + CMD with
// the final stage's ENV, and its EXPOSEd ports.
func dockerfileInvocation(t *testing.T) invocation {
	t.Helper()
	stages := parseDockerfile(t, "Dockerfile")
	final := stages[len(stages)-1]
	inv := invocation{where: "Dockerfile", env: map[string]string{}}
	for _, in := range final.all("ENV") {
		for _, kv := range strings.Fields(in.args) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("Dockerfile:%d: write ENV as KEY=value", in.line)
			}
			inv.env[k] = v
		}
	}
	var ep, cmd []string
	if e := final.all("ENTRYPOINT"); len(e) > 0 {
		ep = execForm(t, e[len(e)-1])
	}
	if c := final.all("CMD"); len(c) > 0 {
		cmd = execForm(t, c[len(c)-1])
	}
	if len(ep) != 1 || filepath.Base(ep[0]) != "querylens" {
		t.Fatalf("Dockerfile: ENTRYPOINT %q, want the querylens binary alone (flags go in CMD or the container's arguments)", ep)
	}
	inv.args = cmd
	for _, in := range final.all("EXPOSE") {
		for _, p := range strings.Fields(in.args) {
			n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
			if err != nil {
				t.Fatalf("Dockerfile:%d: EXPOSE %q: %v", in.line, p, err)
			}
			inv.declared = append(inv.declared, n)
		}
	}
	return inv
}

// TestDockerfile checks deploy/Dockerfile's structure: a build stage that
// makes a static, trimmed binary with a Go at least as new as go.mod asks,
// and a minimal final stage that runs it as a numeric non-root user.
// (No engine runs on the test machines; this is what can be checked
// without one. TestStaticBinary builds the binary the same way.)
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a build stage and a final stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	// The build stage: the official Go image, new enough for go.mod.
	img, tag, _ := strings.Cut(build.from, ":")
	if img != "golang" {
		t.Errorf("build stage FROM %s, want the golang image", build.from)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)\s*$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	goVer := regexp.MustCompile(`^\d+\.\d+(\.\d+)?`).FindString(tag)
	if goVer == "" || versionLess(goVer, string(m[1])) {
		t.Errorf("build stage FROM %s: its Go (%q) is older than go.mod's go %s", build.from, goVer, m[1])
	}
	var goBuild string
	for _, in := range build.all("RUN") {
		if strings.Contains(in.args, "go build") {
			goBuild = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w`, "./cmd/querylens"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("build stage: the go build RUN lacks %q: %q", want, goBuild)
		}
	}
	// buildFlags (used by binary) must be what the Dockerfile uses.
	for _, f := range buildFlags {
		if !strings.Contains(goBuild, f) {
			t.Errorf("build stage: go build lacks %q, which the tests build with", f)
		}
	}

	// The final stage: distroless/static (CA certificates, a nonroot user,
	// nothing else) or scratch with certificates copied in.
	switch {
	case strings.HasPrefix(final.from, "gcr.io/distroless/static"):
	case final.from == "scratch":
		certs := false
		for _, in := range final.all("COPY") {
			certs = certs || strings.Contains(in.args, "ca-certificates")
		}
		if !certs {
			t.Errorf("final stage FROM scratch copies no CA certificates")
		}
	default:
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static* or scratch", final.from)
	}
	users := final.all("USER")
	if len(users) == 0 {
		t.Fatal("final stage has no USER: the container would run as root")
	}
	user := users[len(users)-1].args
	uid, gid, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("final stage USER %q: want a numeric non-root uid (Kubernetes runAsNonRoot can only verify numbers)", user)
	}
	if gid != "" {
		if n, err := strconv.Atoi(gid); err != nil || n == 0 {
			t.Errorf("final stage USER %q: want a numeric non-root gid", user)
		}
	}
	if len(final.all("EXPOSE")) == 0 {
		t.Error("final stage EXPOSEs no port")
	}
	// The ENTRYPOINT runs the binary the final stage copies from the build.
	ep := execForm(t, final.all("ENTRYPOINT")[0])
	copied := false
	for _, in := range final.all("COPY") {
		f := strings.Fields(in.args)
		copied = copied || (strings.Contains(in.args, "--from="+build.name) && f[len(f)-1] == ep[0])
	}
	if build.name == "" || !copied {
		t.Errorf("final stage: ENTRYPOINT %s is not a file COPY --from the build stage puts there", ep[0])
	}
}

// versionLess compares dotted Go versions numerically ("1.26" < "1.26.8").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// TestStaticBinary builds querylens as the Dockerfile does and checks that
// the result needs no dynamic loader or shared library, so it runs on
// distroless/static or scratch.
func TestStaticBinary(t *testing.T) {
	f, err := elf.Open(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a PT_INTERP header: it needs a dynamic loader")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: -ldflags \"-s -w\" did not apply")
	}
}
