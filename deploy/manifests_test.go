package deploy_test

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Helpers to walk decoded YAML without a schema.

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

func strings_(v any) []string {
	var out []string
	for _, x := range listOf(v) {
		out = append(out, str(x))
	}
	return out
}

// isQuerylensImage reports whether a container image is querylens's.
func isQuerylensImage(image string) bool {
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	name, _, _ = strings.Cut(name, ":")
	return name == "querylens"
}

// composeInvocations reads the querylens service of compose.yaml and the
// scrape targets of the Prometheus configuration it mounts.
func composeInvocations(t *testing.T) []invocation {
	t.Helper()
	const path = "compose.yaml"
	docs, err := yamlDocs(path)
	if err != nil || len(docs) != 1 {
		t.Fatalf("%s: %v (%d documents)", path, err, len(docs))
	}
	services := mapOf(docs[0]["services"])
	for _, want := range []string{"querylens", "prometheus", "grafana"} {
		if services[want] == nil {
			t.Errorf("%s: no %s service", path, want)
		}
	}
	targets := prometheusTargets(t, services)
	var invs []invocation
	for name, s := range services {
		svc := mapOf(s)
		build := mapOf(svc["build"])
		if !isQuerylensImage(str(svc["image"])) && filepath.Base(str(build["dockerfile"])) != "Dockerfile" {
			continue
		}
		if build != nil && str(build["dockerfile"]) != "deploy/Dockerfile" {
			t.Errorf("%s: service %s builds %q, want deploy/Dockerfile (context: the module root)", path, name, str(build["dockerfile"]))
		}
		inv := invocation{where: path + " service " + name, args: strings_(svc["command"]), env: map[string]string{}}
		if g := str(svc["stop_grace_period"]); g != "" {
			d, err := time.ParseDuration(g)
			if err != nil {
				t.Errorf("%s: service %s: stop_grace_period %q: %v", path, name, g, err)
			}
			inv.stopGrace = d
		}
		for k, v := range mapOf(svc["environment"]) {
			inv.env[k] = str(v)
		}
		if len(inv.env) == 0 && svc["environment"] != nil {
			t.Errorf("%s: write the environment of service %s as a map", path, name)
		}
		for _, p := range strings_(svc["ports"]) {
			parts := strings.Split(p, ":")
			n, err := strconv.Atoi(strings.TrimSuffix(parts[len(parts)-1], "/tcp"))
			if err != nil {
				t.Errorf("%s: service %s: port %q: %v", path, name, p, err)
				continue
			}
			inv.declared = append(inv.declared, n)
		}
		for _, target := range targets {
			host, port, err := net.SplitHostPort(target)
			if err != nil {
				t.Errorf("prometheus target %q: %v", target, err)
				continue
			}
			if host == name {
				n, _ := strconv.Atoi(port)
				inv.probed = append(inv.probed, n)
			}
		}
		if len(inv.probed) == 0 {
			t.Errorf("%s: Prometheus does not scrape service %s (targets %v)", path, name, targets)
		}
		// The upstream must be another service of the stack.
		uses, err := parseArgs(inv.args)
		if err != nil {
			t.Errorf("%s: %v", inv.where, err)
		}
		for _, u := range uses {
			if u.name != "upstream" {
				continue
			}
			host, _, err := net.SplitHostPort(u.value)
			if err != nil || services[host] == nil {
				t.Errorf("%s: --upstream=%s is not a service of the stack", inv.where, u.value)
			}
		}
		invs = append(invs, inv)
	}
	if len(invs) == 0 {
		t.Fatalf("%s: no querylens service", path)
	}
	return invs
}

// prometheusTargets returns the static scrape targets of the Prometheus
// configuration the compose stack mounts, after checking that every file
// the stack mounts exists.
func prometheusTargets(t *testing.T, services map[string]any) []string {
	t.Helper()
	var targets []string
	for name, s := range services {
		for _, v := range strings_(mapOf(s)["volumes"]) {
			src, dst, ok := strings.Cut(v, ":")
			if !ok || !strings.HasPrefix(src, ".") {
				continue // a named volume
			}
			if matches, err := filepath.Glob(src); err != nil || len(matches) == 0 {
				t.Errorf("compose.yaml: service %s mounts %s, which does not exist", name, src)
			}
			if !strings.HasPrefix(strings.TrimSuffix(dst, ":ro"), "/etc/prometheus/prometheus.yml") {
				continue
			}
			docs, err := yamlDocs(src)
			if err != nil || len(docs) != 1 {
				t.Fatalf("%s: %v", src, err)
			}
			for _, sc := range listOf(docs[0]["scrape_configs"]) {
				for _, st := range listOf(mapOf(sc)["static_configs"]) {
					targets = append(targets, strings_(mapOf(st)["targets"])...)
				}
			}
		}
	}
	if len(targets) == 0 {
		t.Fatal("compose.yaml: the Prometheus service mounts no configuration with scrape targets")
	}
	return targets
}

// k8sPod is the pod template of a workload.
type k8sPod struct {
	where  string
	labels map[string]any
	spec   map[string]any
}

// selects reports whether a label selector (matchLabels or a Service's
// selector) picks the pod.
func (p k8sPod) selects(sel map[string]any) bool {
	for k, v := range sel {
		if str(p.labels[k]) != str(v) {
			return false
		}
	}
	return len(sel) > 0
}

// kubernetesInvocations reads the querylens containers of every workload
// in kubernetes/*.yaml and checks, on the way, that Services and
// PodMonitors reach ports the pods declare, that a loopback upstream is
// served by a sibling container, and that secrets referenced exist.
func kubernetesInvocations(t *testing.T) []invocation {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("kubernetes/*.yaml: %v (%d files; want the MySQL and app sidecar examples)", err, len(files))
	}
	var (
		pods                  []k8sPod
		services, podMonitors []map[string]any
		secrets               = map[string]bool{} // "name/key"
	)
	for _, path := range files {
		docs, err := yamlDocs(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			kind := str(d["kind"])
			if d["apiVersion"] == nil || kind == "" {
				t.Errorf("%s: a document without apiVersion or kind", path)
			}
			md := mapOf(d["metadata"])
			name := str(md["name"])
			switch kind {
			case "Secret":
				for k := range mapOf(d["stringData"]) {
					secrets[name+"/"+k] = true
				}
				for k := range mapOf(d["data"]) {
					secrets[name+"/"+k] = true
				}
			case "Service":
				services = append(services, d)
			case "PodMonitor":
				podMonitors = append(podMonitors, d)
			case "Deployment", "StatefulSet", "DaemonSet":
				tmpl := mapOf(mapOf(d["spec"])["template"])
				p := k8sPod{path + " " + kind + " " + name, mapOf(mapOf(tmpl["metadata"])["labels"]), mapOf(tmpl["spec"])}
				if !p.selects(mapOf(mapOf(mapOf(d["spec"])["selector"])["matchLabels"])) {
					t.Errorf("%s %s: the selector does not match the pod labels", path, name)
				}
				pods = append(pods, p)
			case "Pod":
				pods = append(pods, k8sPod{path + " Pod " + name, mapOf(md["labels"]), mapOf(d["spec"])})
			}
		}
	}
	secretRef := func(where string, name, key any) {
		if !secrets[str(name)+"/"+str(key)] {
			t.Errorf("%s: secret %s key %s is not defined in kubernetes/", where, str(name), str(key))
		}
	}

	var invs []invocation
	scraped := 0
	for _, p := range pods {
		var all []map[string]any
		for _, c := range listOf(p.spec["initContainers"]) {
			all = append(all, mapOf(c))
		}
		for _, c := range listOf(p.spec["containers"]) {
			all = append(all, mapOf(c))
		}
		// Named and numbered ports of every container in the pod.
		podPorts := map[string]int{}
		for _, c := range all {
			for _, cp := range listOf(c["ports"]) {
				n, _ := strconv.Atoi(str(mapOf(cp)["containerPort"]))
				podPorts[str(mapOf(cp)["containerPort"])] = n
				if nm := str(mapOf(cp)["name"]); nm != "" {
					podPorts[nm] = n
				}
			}
		}
		for _, c := range all {
			for _, e := range listOf(c["env"]) {
				if ref := mapOf(mapOf(mapOf(e)["valueFrom"])["secretKeyRef"]); ref != nil {
					secretRef(p.where+" container "+str(c["name"]), ref["name"], ref["key"])
				}
			}
			if !isQuerylensImage(str(c["image"])) {
				continue
			}
			args := strings_(c["command"])
			if len(args) > 0 {
				args = args[1:]
			}
			inv := invocation{where: p.where + " container " + str(c["name"]), args: append(args, strings_(c["args"])...), env: map[string]string{}}
			if g := str(p.spec["terminationGracePeriodSeconds"]); g != "" {
				n, err := strconv.Atoi(g)
				if err != nil {
					t.Errorf("%s: terminationGracePeriodSeconds %q: %v", p.where, g, err)
				}
				inv.stopGrace = time.Duration(n) * time.Second
			}
			tokenSecret := ""
			for _, e := range listOf(c["env"]) {
				em := mapOf(e)
				inv.env[str(em["name"])] = str(em["value"])
				if ref := mapOf(mapOf(em["valueFrom"])["secretKeyRef"]); ref != nil {
					// A stand-in value: the real one is in the secret.
					inv.env[str(em["name"])] = "from-secret"
					if str(em["name"]) == "QUERYLENS_HTTP_TOKEN" {
						tokenSecret = str(ref["name"]) + "/" + str(ref["key"])
					}
				}
			}
			for _, cp := range listOf(c["ports"]) {
				n, _ := strconv.Atoi(str(mapOf(cp)["containerPort"]))
				inv.declared = append(inv.declared, n)
			}
			for _, probe := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
				hg := mapOf(mapOf(c[probe])["httpGet"])
				if hg == nil {
					continue
				}
				port, ok := podPorts[str(hg["port"])]
				if !ok {
					t.Errorf("%s: %s port %q is not a port of the pod", inv.where, probe, str(hg["port"]))
				}
				inv.probed = append(inv.probed, port)
				if str(hg["path"]) != "/healthz" {
					t.Errorf("%s: %s path %q, want /healthz (the one path that needs no token)", inv.where, probe, str(hg["path"]))
				}
			}
			// PodMonitors scraping this pod: a declared port, /metrics,
			// and the very token querylens was given.
			for _, pm := range podMonitors {
				spec := mapOf(pm["spec"])
				if !p.selects(mapOf(mapOf(spec["selector"])["matchLabels"])) {
					continue
				}
				for _, ep := range listOf(spec["podMetricsEndpoints"]) {
					epm := mapOf(ep)
					port, ok := podPorts[str(epm["port"])]
					if !ok {
						t.Errorf("PodMonitor %s: port %q is not a port of %s", str(mapOf(pm["metadata"])["name"]), str(epm["port"]), p.where)
					}
					inv.probed = append(inv.probed, port)
					scraped++
					if str(epm["path"]) != "/metrics" {
						t.Errorf("PodMonitor %s: path %q, want /metrics", str(mapOf(pm["metadata"])["name"]), str(epm["path"]))
					}
					cred := mapOf(mapOf(epm["authorization"])["credentials"])
					if got := str(cred["name"]) + "/" + str(cred["key"]); tokenSecret != "" && got != tokenSecret {
						t.Errorf("PodMonitor %s: scrapes with secret %s, but %s takes its token from %s", str(mapOf(pm["metadata"])["name"]), got, inv.where, tokenSecret)
					}
				}
			}
			sc := mapOf(c["securityContext"])
			if sc["runAsNonRoot"] != true || sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false {
				t.Errorf("%s: securityContext must set runAsNonRoot, readOnlyRootFilesystem and allowPrivilegeEscalation: false", inv.where)
			}
			checkLoopbackUpstream(t, inv, c, all)
			invs = append(invs, inv)
		}
		// Every Service selecting this pod must target its ports.
		for _, s := range services {
			spec := mapOf(s["spec"])
			if !p.selects(mapOf(spec["selector"])) {
				continue
			}
			for _, sp := range listOf(spec["ports"]) {
				tp := str(mapOf(sp)["targetPort"])
				if tp == "" {
					tp = str(mapOf(sp)["port"])
				}
				if _, ok := podPorts[tp]; !ok {
					t.Errorf("Service %s targets port %q, which no container of %s declares", str(mapOf(s["metadata"])["name"]), tp, p.where)
				}
			}
		}
	}
	if len(invs) < 2 {
		t.Errorf("kubernetes/: %d querylens containers, want the MySQL sidecar and the app sidecar", len(invs))
	}
	if scraped < len(invs) {
		t.Errorf("kubernetes/: %d PodMonitor endpoints for %d querylens containers", scraped, len(invs))
	}
	return invs
}

// checkLoopbackUpstream requires a loopback --upstream to be served by a
// sibling container of the pod: one whose arguments set that --port or
// that declares it.
func checkLoopbackUpstream(t *testing.T, inv invocation, self map[string]any, all []map[string]any) {
	t.Helper()
	uses, err := parseArgs(inv.args)
	if err != nil {
		return // reported by the flag test
	}
	for _, u := range uses {
		if u.name != "upstream" {
			continue
		}
		host, port, err := net.SplitHostPort(u.value)
		if err != nil || (host != "127.0.0.1" && host != "localhost" && host != "::1") {
			continue
		}
		served := false
		for _, c := range all {
			if str(c["name"]) == str(self["name"]) {
				continue
			}
			if slices.Contains(strings_(c["args"]), "--port="+port) {
				served = true
			}
			for _, cp := range listOf(c["ports"]) {
				if str(mapOf(cp)["containerPort"]) == port {
					served = true
				}
			}
		}
		if !served {
			t.Errorf("%s: --upstream=%s, but no other container of the pod listens on port %s", inv.where, u.value, port)
		}
	}
}
