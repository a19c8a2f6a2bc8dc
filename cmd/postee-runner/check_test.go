package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
	"github.com/postee-fleet/posteed/agent/pki"
)

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = daemontest.Env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// runnerCert writes a client certificate for cn into dir.
func runnerCert(t *testing.T, dir, cn string) (crt, key string) {
	t.Helper()
	ca, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	c, k, err := ca.Issue(pki.Client, cn, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WritePair(dir, cn, c, k); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteCA(dir, ca); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
}

func TestRunnerCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	crt, key := runnerCert(t, dir, "postee-runner-1")
	write := func(name, body string) string {
		t.Helper()
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	good := write("good.toml", `runner-name = "postee-runner-1"
controller-url = "tls://ctl.example.org:4222"
runner-tls-cert = "`+crt+`"
runner-tls-key = "`+key+`"
runner-ca-root = "ca.crt"

[discovery]
tracee-files = ["/var/log/tracee/*.json"]
`)
	if stdout, stderr, code := runCLI(t, "check", "--config", good); code != 0 || stdout != good+": valid\n" {
		t.Errorf("valid runner.toml: exit %d\n%s%s", code, stdout, stderr)
	}

	bad := write("bad.toml", `runner-name = "postee-runner-2"
controller-url = "https://ctl.example.org"
runner-tls-cert = "`+crt+`"
admn = "127.0.0.1:9083"
log-level = "chatty"

[discovery]
tracee-files = ["tracee/*.json", "/var/log/[tracee/*.json"]
`)
	stdout, _, code := runCLI(t, "check", "--config", bad)
	want := []string{
		bad + `:2: controller-url: "https://ctl.example.org": want tls://HOST:PORT`,
		bad + `:3: runner-tls-cert: runner-tls-cert is set but runner-tls-key is not: give both`,
		bad + `:3: runner-tls-cert: runner certificate ` + crt + ` is for "postee-runner-1", but runner-name is "postee-runner-2"`,
		bad + `:4: admn: unknown setting (did you mean "admin"?)`,
		bad + `:5: log-level: "chatty": use debug, info, warn or error`,
		bad + `:8: tracee-files: "tracee/*.json": give an absolute path`,
		bad + `:8: tracee-files: "/var/log/[tracee/*.json": syntax error in pattern`,
		bad + `: invalid (7 problems)`,
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

	stdout, _, code = runCLI(t, "check", "--format", "json", "--config", bad)
	var r struct {
		Valid    bool
		Problems []struct{ Line int }
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != 1 || r.Valid || len(r.Problems) != 7 || r.Problems[0].Line != 2 {
		t.Errorf("json: exit %d, %v, %+v\n%s", code, err, r, stdout)
	}

	// As shipped, runner.toml lacks exactly the two settings it says are required.
	shipped := filepath.Join("..", "..", "etc", "postee", "runner.toml")
	stdout, _, code = runCLI(t, "check", "--config", shipped)
	if code != 1 || !strings.Contains(stdout, "runner-name: not set") || !strings.Contains(stdout, "controller-url: not set") ||
		!strings.HasSuffix(stdout, "invalid (2 problems)\n") {
		t.Errorf("shipped runner.toml: exit %d\n%s", code, stdout)
	}
	if _, stderr, code := runCLI(t, "check", "--config", filepath.Join(dir, "missing.toml")); code != 1 {
		t.Errorf("missing file: exit %d %s", code, stderr)
	}
}
