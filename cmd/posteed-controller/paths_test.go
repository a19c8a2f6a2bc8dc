package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestCheckRefusesFilesOutsideTheConfigDirectory: `check` names file, line
// and key of each file a runner would be sent from outside the config
// directory: a shadow-like file by "../" and a CA-key-like one by symlink.
func TestCheckRefusesFilesOutsideTheConfigDirectory(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "postee")
	for _, d := range []string{filepath.Join(root, "tls"), filepath.Join(dir, "scripts")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(root, "shadow"), "root:$6$x:19000::::::\n")
	writeFile(t, filepath.Join(root, "tls", "ca.key"), "-----BEGIN EC PRIVATE KEY-----\n")
	if err := os.Symlink("../../tls/ca.key", filepath.Join(dir, "scripts", "rotate.sh")); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "cfg.yaml")
	writeFile(t, f, `routes:
- name: r
  input-files: [../shadow]
  actions: [rotate]
  template: t
templates:
- name: t
  rego-package: postee.rawmessage.json
actions:
- name: rotate
  type: exec
  enable: true
  runs-on: postee-runner-1
  input-file: scripts/rotate.sh
`)
	stdout, _, code := runCLI(t, "check", "--cfgfile", f)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		`^` + regexp.QuoteMeta(f) + `:3: routes\[0\] "r"\.input-files: "\.\./shadow" is outside the config directory`,
		`^` + regexp.QuoteMeta(f) + `:14: actions\[0\] "rotate"\.input-file: "scripts/rotate.sh" leads through a symlink to ` + regexp.QuoteMeta(filepath.Join(root, "tls", "ca.key")),
	} {
		if !regexp.MustCompile(`(?m)` + want).MatchString(stdout) {
			t.Errorf("output lacks %s:\n%s", want, stdout)
		}
	}
}
