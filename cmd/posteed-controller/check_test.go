package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// runCLIStdin is runCLI with stdin.
func runCLIStdin(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = daemontest.Env()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

const brokenCfg = `routes:
- name: r
  input: contains(input.image,
  actions: [a]
  template: raw
templates:
- name: raw
  rego-package: postee.rawmessage.json
actions:
- name: a
  type: nonsense
  enable: true
`

type checkReport struct {
	Valid    bool
	Files    []string
	Problems []struct {
		File, Key, Message string
		Line               int
	}
}

// TestCheckFormats: text and JSON, from a file and from stdin, report the
// same problems sorted by line.
func TestCheckFormats(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "cfg.yaml")
	writeFile(t, f, brokenCfg)
	tests := []struct {
		name  string
		stdin string
		args  []string
		file  string
	}{
		{"file", "", []string{"check", "--format", "json", "--cfgfile", f}, f},
		{"stdin", brokenCfg, []string{"check", "--format", "json", "--cfgfile", "-"}, "<stdin>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLIStdin(t, tt.stdin, tt.args...)
			var r checkReport
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("exit %d, not JSON: %v\n%s%s", code, err, stdout, stderr)
			}
			if code != 1 || r.Valid || len(r.Files) != 1 || r.Files[0] != tt.file || len(r.Problems) != 2 {
				t.Fatalf("exit %d, report %+v", code, r)
			}
			if p := r.Problems[0]; p.File != tt.file || p.Line != 3 || p.Key != `routes[0] "r" input` || !strings.HasPrefix(p.Message, "rego: ") {
				t.Errorf("first problem %+v", p)
			}
			if p := r.Problems[1]; p.Line != 11 || p.Key != `actions[0] "a".type` || !strings.HasPrefix(p.Message, `unknown action type "nonsense"`) {
				t.Errorf("second problem %+v", p)
			}
		})
	}
	stdout, _, code := runCLIStdin(t, "routes: []\n", "check", "--format", "json", "-")
	if code != 0 || !strings.Contains(stdout, `"valid": true`) || !strings.Contains(stdout, `"problems": []`) {
		t.Errorf("valid config from stdin: exit %d\n%s", code, stdout)
	}
	if _, stderr, code := runCLI(t, "check", "--format", "yaml", f); code != 2 || !strings.Contains(stderr, "use text or json") {
		t.Errorf("--format yaml: exit %d, %s", code, stderr)
	}
}

// TestCheckControllerTOML: --config checks controller.toml's keys and
// values and the cfgfile it names, in one report.
func TestCheckControllerTOML(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, toml := filepath.Join(dir, "cfg.yaml"), filepath.Join(dir, "controller.toml")
	writeFile(t, cfg, brokenCfg)
	writeFile(t, toml, `cfgfile = "`+cfg+`"
url = "0.0.0.0:80x"
admn = "127.0.0.1:8083"
log-level = "loud"
controller-url = "http://0.0.0.0:4222"
controller-tls-cert = "/nonexistent/controller.crt"
body-limit = 0
`)
	stdout, _, code := runCLI(t, "check", "--config", toml)
	want := []string{
		toml + `:2: url: "0.0.0.0:80x": port "80x" is not a number up to 65535`,
		toml + `:3: admn: unknown setting (did you mean "admin"?)`,
		toml + `:4: log-level: "loud": use debug, info, warn or error`,
		toml + `:5: controller-url: "http://0.0.0.0:4222": want nats://HOST:PORT`,
		toml + `:6: controller-tls-cert: cannot read /nonexistent/controller.crt: no such file or directory`,
		toml + `:6: controller-tls-cert: controller-tls-cert is set but controller-tls-key is not: give both`,
		toml + `:7: body-limit: 0: must be more than 0`,
		cfg + `:3: routes[0] "r" input: rego: `,
		cfg + `:11: actions[0] "a".type: unknown action type "nonsense"`,
		toml + `: invalid (7 problems)`,
		cfg + `: invalid (2 problems)`,
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if code != 1 || len(lines) != len(want) {
		t.Fatalf("exit %d, %d lines, want 1 and %d:\n%s", code, len(lines), len(want), stdout)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d:\n got %s\nwant %s…", i+1, lines[i], w)
		}
	}

	// The shipped controller.toml and cfg.yaml are valid together.
	shippedTOML, shippedCfg := filepath.Join("..", "..", "etc", "postee", "controller.toml"), filepath.Join("..", "..", "etc", "postee", "cfg.yaml")
	stdout, _, code = runCLI(t, "check", "--config", shippedTOML, "--cfgfile", shippedCfg)
	if code != 0 || stdout != shippedTOML+": valid\n"+shippedCfg+": valid\n" {
		t.Errorf("shipped files: exit %d\n%s", code, stdout)
	}
}

// TestCheckKubernetesOnRunner: a kubernetes action a route places on a
// runner without kube-config-file passes check with a warning on its
// line, as only a runner in a Kubernetes pod has a service account to use:
// a runner elsewhere would refuse its whole config slice.
func TestCheckKubernetesOnRunner(t *testing.T) {
	t.Parallel()
	const cfg = `routes:
- name: r
  input: contains(input.image, "alpine")
  actions: [label-pod]
  template: raw
templates:
- name: raw
  rego-package: postee.rawmessage.json
actions:
- name: label-pod
  type: kubernetes
  enable: true
  runs-on: node-1
  kube-namespace: default
  kube-label-selector: app=web
  kube-actions:
    labels:
      quarantine: "true"
`
	stdout, stderr, code := runCLIStdin(t, cfg, "check", "-")
	want := []string{
		`warning: <stdin>:10: actions[0] "label-pod": kube-config-file is required unless the runner runs in a Kubernetes pod`,
		`<stdin>: valid, with 1 warning`,
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if code != 0 || len(lines) != len(want) {
		t.Fatalf("exit %d, want 0 and %d lines:\n%s%s", code, len(want), stdout, stderr)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d:\n got %s\nwant %s…", i+1, lines[i], w)
		}
	}
}
