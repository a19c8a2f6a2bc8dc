package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// runCLI runs the binary to completion and returns stdout, stderr and the
// exit code.
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

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--version"}, {"version"}, {"run", "--version"}} {
		stdout, stderr, code := runCLI(t, args...)
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if code != 0 || len(lines) != 3 || lines[0] != "posteed-controller "+daemontest.Version ||
			!strings.HasPrefix(lines[1], "commit: ") || lines[2] != "go: "+runtime.Version() {
			t.Errorf("%q: exit %d, stdout %q (stderr %q), want %q, a commit and the Go version", args, code, stdout, stderr, "posteed-controller "+daemontest.Version)
		}
	}
}

// TestHelp: --help and -h are the program's, not run's: they list the
// subcommands.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		stdout, stderr, code := runCLI(t, args...)
		for _, sub := range []string{"check", "test", "runners", "certs", "version"} {
			if code != 0 || !strings.Contains(stdout, "posteed-controller "+sub) {
				t.Errorf("%q: exit %d, stdout %q (stderr %q): no %q subcommand", args, code, stdout, stderr, sub)
			}
		}
	}
}

func TestCheckValid(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "configs", "*.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("seed configs: %v %v", files, err)
	}
	shipped := filepath.Join("..", "..", "etc", "postee", "cfg.yaml")
	if _, err := os.Stat(shipped); err == nil {
		files = append(files, shipped)
	} else {
		t.Logf("%s not checked: %v", shipped, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "check", "--cfgfile", f)
			if code != 0 || stdout != f+": valid\n" {
				t.Errorf("exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, f+": valid\n")
			}
		})
	}
}

func TestCheckInvalid(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "cfg.yaml")
	writeFile(t, f, `name: broken
routes:
- name: r1
  input: contains(input.image, "alpine")
  actions: [nope]
  template: missing
  colour: red
templates:
- name: t
  rego-package: postee.rawmessage.json
actions:
- name: a
  type: stdout
  enable: true
`)
	stdout, _, code := runCLI(t, "check", "--cfgfile", f)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		`^` + regexp.QuoteMeta(f) + `:5: routes "r1"\.actions: undefined action "nope"`,
		`^` + regexp.QuoteMeta(f) + `:6: routes "r1"\.template: undefined template "missing"`,
		`^` + regexp.QuoteMeta(f) + `:7: routes\[0\]\.colour: unknown key`,
		`^` + regexp.QuoteMeta(f) + `: invalid \(3 problems\)$`,
	} {
		if !regexp.MustCompile(`(?m)` + want).MatchString(stdout) {
			t.Errorf("output lacks %s:\n%s", want, stdout)
		}
	}
}

// TestDryRun runs `test` on every sample event against the seed configs.
func TestDryRun(t *testing.T) {
	t.Parallel()
	const crm, orch = "seed-controller-runner-mode.yaml", "seed-orchestration-model.yaml"
	tests := []struct {
		cfg, event string
		want       []string // regular expressions, each must match a line
	}{
		{crm, "image-scan.json", []string{`^route "controller-only-route" matches \(template "raw-json"\)$`,
			`^  title:  alpine:3\.10$`, `^  action "my-http-post-from-controller" runs on the controller$`}},
		{crm, "tracee-finding-legacy.json", []string{`^route "controller-runner-route" matches`,
			`^  title:  .*TRC-2`, `^  action "my-exec-from-runner" runs on runner "postee-runner-1"$`,
			`^  action "my-http-post-from-controller" runs on the controller$`}},
		{crm, "tracee-finding.json", []string{`^no route matches `}},
		{crm, "trivy-image-report.json", []string{`^no route matches `}},
		{orch, "image-scan.json", []string{`^route "local-route" matches`, `^  title:  alpine:3\.10$`,
			`^  action "my-http-post-from-controller" runs on the controller$`}},
		{orch, "tracee-finding-legacy.json", []string{`^route "remote-route" matches`, `^  title:  .*TRC-2`,
			`^  action "my-exec-from-runner" runs on runner "postee-runner-1"$`, `^  actions run one after another`}},
	}
	for _, tt := range tests {
		t.Run(tt.cfg+"/"+tt.event, func(t *testing.T) {
			cfg := filepath.Join("..", "..", "testdata", "configs", tt.cfg)
			ev := filepath.Join("..", "..", "testdata", "events", tt.event)
			stdout, stderr, code := runCLI(t, "test", "--cfgfile", cfg, "--event", ev)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, want := range tt.want {
				if !regexp.MustCompile(`(?m)` + want).MatchString(stdout) {
					t.Errorf("output lacks %s:\n%s", want, stdout)
				}
			}
		})
	}
}
