package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// postee is a config in the shape of Postee's shipped default cfg.yaml:
// instance settings, rules, example templates and actions no route uses,
// some incomplete.
var postee = filepath.Join("..", "..", "testdata", "postee", "default-shape.yaml")

// posteeWarnings are the warnings check must print for it, by line.
var posteeWarnings = []string{
	`:7: max-db-size: accepted for Postee compatibility, not used`,
	`:8: db-verify-interval: accepted for Postee compatibility, not used`,
	`:9: delete-old-data: accepted for Postee compatibility, not used`,
	`:18: routes\[0\]\.plugins\.unique-message-timeout-seconds: accepted for Postee compatibility, not used`,
	`:29: templates\[4\] "example-from-web": give exactly one of rego-package, body, url or legacy-scan-renderer \(a warning: no route uses this template\)`,
	`:34: rules: accepted for Postee compatibility, not used`,
	`:66: actions\[3\] "hec"\.tls-verify: accepted for Postee compatibility, not used: Postee's splunk`,
	`:68: actions\[4\] "hook": .*url is required \(a warning: no route uses this action\)`,
}

// TestCheckPosteeDefaultShape: Postee's material loads unchanged: what
// Postee accepts and posteed does not use, or that no route uses, is a
// warning with its line, and the config is valid.
func TestCheckPosteeDefaultShape(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := runCLI(t, "check", "--cfgfile", postee)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != len(posteeWarnings)+1 {
		t.Fatalf("%d lines, want %d warnings and the verdict:\n%s", len(lines), len(posteeWarnings), stdout)
	}
	for i, w := range posteeWarnings {
		if re := `^warning: ` + regexp.QuoteMeta(postee) + w; !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d = %q, want %s", i+1, lines[i], re)
		}
	}
	if want := postee + ": valid, with 8 warnings"; lines[len(lines)-1] != want {
		t.Errorf("last line %q, want %q", lines[len(lines)-1], want)
	}
}

// TestPosteeDefaultShapeRuns: the daemon starts on it, logs each warning
// once, and its route works.
func TestPosteeDefaultShapeRuns(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, "true")
	writeFile(t, d.cfg, daemontest.ReadFile(t, postee))
	p := daemontest.Start(t, d.command(nil))
	p.AwaitLog(t, "controller ready", startTimeout)
	a := daemontest.Post(t, d.addr, []byte(`{"image":"alpine:3.10","digest":"sha256:1"}`))
	if len(a.Routes) != 1 || a.Routes[0] != "to-stdout" {
		t.Fatalf("routes %v, want [to-stdout]", a.Routes)
	}
	for _, w := range posteeWarnings {
		key := regexp.MustCompile(`^:(\d+): `).FindStringSubmatch(w)
		re := regexp.MustCompile(`(?m)^.*msg="config warning: .* line=` + key[1] + ` `)
		if n := len(re.FindAllString(p.Stderr(), -1)); n != 1 {
			t.Errorf("warning of line %s logged %d times, want once:\n%s", key[1], n, p.Stderr())
		}
	}
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(p.Stdout(), `"image":"alpine:3.10"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the stdout action printed %q", p.Stdout())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPosteeEnvironment: Postee's environment variables set the daemon's
// settings over controller.toml (POSTEE_* over the older AQUAALERT_*), and
// a flag wins over them.
func TestPosteeEnvironment(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, "true")
	other, filters := filepath.Join(t.TempDir(), "env-cfg.yaml"), t.TempDir()
	writeFile(t, other, strings.NewReplacer("name: alpine", "name: from-env-cfg",
		`input: contains(input.image, "alpine")`, "input-files: [Only-Alpine.rego]").Replace(cfgYAML("true", d.out, "")))
	writeFile(t, filepath.Join(filters, "Only-Alpine.rego"), "package postee\nallow { contains(input.image, \"alpine\") }\n")
	envAddr, oldAddr, flagAddr := daemontest.FreeAddr(t), daemontest.FreeAddr(t), daemontest.FreeAddr(t)
	env := []string{"POSTEE_HTTP=" + envAddr, "AQUAALERT_URL=" + oldAddr, "POSTEE_CFG=" + other, "POSTEE_DEBUG=1", "REGO_FILTERS_PATH=" + filters}

	p := daemontest.Start(t, d.command(env))
	p.AwaitLog(t, "controller ready", startTimeout)
	if a := daemontest.Post(t, envAddr, []byte(`{"image":"alpine:3.10"}`)); len(a.Routes) != 1 || a.Routes[0] != "from-env-cfg" {
		t.Errorf("POSTEE_HTTP/POSTEE_CFG/REGO_FILTERS_PATH: routes %v, want [from-env-cfg]", a.Routes)
	}
	if a := daemontest.Post(t, envAddr, []byte(`{"image":"debian:12"}`)); len(a.Routes) != 0 {
		t.Errorf("the input-file from REGO_FILTERS_PATH let debian through: %v", a.Routes)
	}
	for _, v := range []string{"variable=POSTEE_HTTP setting=url", "variable=POSTEE_CFG setting=cfgfile", "variable=POSTEE_DEBUG setting=log-level value=debug"} {
		p.AwaitLog(t, v, startTimeout)
	}

	p2 := daemontest.Start(t, d.command(env, "--url="+flagAddr, "--log-level=info"))
	p2.AwaitLog(t, "controller ready", startTimeout)
	if a := daemontest.Post(t, flagAddr, []byte(`{"image":"alpine:3.10"}`)); len(a.Routes) != 1 {
		t.Errorf("--url given with POSTEE_HTTP: routes %v", a.Routes)
	}
	if l, ok := p2.Line("variable=POSTEE_HTTP"); ok {
		t.Errorf("the flag should win over POSTEE_HTTP: %s", l)
	}
}

// TestPosteeControllerFlags: Postee's controller command line (its docs'
// example) parses unchanged, --controller-seed-file included.
func TestPosteeControllerFlags(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := runCLI(t, "run", "--cfgfile=./cfg-controller-runner.yaml", "--controller-mode", "--controller-ca-root=./rootCA.pem",
		"--controller-tls-cert=./server-cert.pem", "--controller-tls-key=./server-key.pem", "--controller-seed-file=./seed.txt",
		"--url=0.0.0.0:8082", "--tls=0.0.0.0:8445", "--controller-url=nats://0.0.0.0:4222", "--runner-nkeys=postee-runner-1=UABC", "--help")
	if code != 0 || !strings.Contains(stdout+stderr, "-controller-seed-file") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestNKeyCommand: nkey writes a private seed file and prints the public
// key that controller.toml's runner-nkeys lists for the runner.
func TestNKeyCommand(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "runner-7.nk")
	stdout, stderr, code := runCLI(t, "nkey", "--out", out, "runner-7")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	seed := daemontest.ReadFile(t, out)
	kp, err := nkeys.ParseDecoratedNKey([]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	if want := `runner-nkeys = { "runner-7" = "` + pub + `" }`; !strings.Contains(stdout, want) {
		t.Errorf("stdout %q lacks %q", stdout, want)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("seed file mode: %v %v", fi.Mode(), err)
	}
	if _, _, code := runCLI(t, "nkey", "--out", out, "runner-7"); code == 0 {
		t.Error("an existing seed file was overwritten")
	}
}
