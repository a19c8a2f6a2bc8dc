package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostile lays out what an attacker who can write beside cfg.yaml (or edit
// it) would: secrets outside the config directory (an /etc/shadow and a CA
// key stand-in), symlinks to them, and a few honest files.
type hostile struct {
	dir     string // the config directory
	shadow  string // a secret outside it
	caKey   string // another
	outside string // a directory outside it
}

func newHostile(t *testing.T) hostile {
	t.Helper()
	root := t.TempDir()
	h := hostile{dir: filepath.Join(root, "postee"), outside: filepath.Join(root, "etc")}
	h.shadow, h.caKey = filepath.Join(h.outside, "shadow"), filepath.Join(h.outside, "tls", "ca.key")
	files := map[string]string{
		h.shadow: "root:$6$secret:19000:0:99999:7:::\n",
		h.caKey:  "-----BEGIN EC PRIVATE KEY-----\n",
		filepath.Join(h.outside, "filters", "x.rego"):    "package postee\nallow { true }\n",
		filepath.Join(h.dir, "scripts", "contain.sh"):    "#!/bin/sh\necho ok\n",
		filepath.Join(h.dir, "filters", "ok.rego"):       "package postee\nallow { true }\n",
		filepath.Join(h.dir, "rego-templates", "t.rego"): "package mine\ntitle := \"t\"\nresult := \"r\"\n",
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		filepath.Join(h.dir, "body.json"):                    h.shadow,
		filepath.Join(h.dir, "scripts", "key.sh"):            h.caKey,
		filepath.Join(h.dir, "linked-filters"):               filepath.Join(h.outside, "filters"),
		filepath.Join(h.dir, "rego-templates", "evil.rego"):  h.caKey,
		filepath.Join(h.dir, "scripts", "relative-link.sh"):  "contain.sh", // stays inside
		filepath.Join(h.dir, "rego-templates", "alias.rego"): "t.rego",
	}
	for link, target := range links {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// cfg writes cfg.yaml with one exec action per entry of files (key: value
// lines of the action) and route input-files, and loads it.
func (h hostile) load(t *testing.T, route string, actions ...string) error {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "routes:\n- name: r\n  template: t\n  actions: [%s]\n%s", actionNames(len(actions)), route)
	b.WriteString("templates:\n- name: t\n  rego-package: mine\nactions:\n")
	for i, a := range actions {
		fmt.Fprintf(&b, "- name: a%d\n  type: exec\n  enable: true\n%s", i, a)
	}
	p := filepath.Join(h.dir, "cfg.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	return err
}

func actionNames(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("a%d", i)
	}
	return strings.Join(names, ", ")
}

// TestFilesMustStayInTheConfigDirectory: files the controller would read
// and ship to a runner are a config error, with file, line and key, when
// they leave the config directory by "../", by an absolute path on a
// shipped route, or through a symlink; honest files are fine.
func TestFilesMustStayInTheConfigDirectory(t *testing.T) {
	h := newHostile(t)
	runner := "  runs-on: postee-runner-1\n"
	tests := []struct {
		name   string
		route  string
		action string
		want   string // "" when valid
	}{
		{"script inside", "", runner + "  input-file: scripts/contain.sh\n", ""},
		{"symlink that stays inside", "", runner + "  input-file: scripts/relative-link.sh\n", ""},
		{"absolute script on a runner: its own host's file, never read here", "", runner + "  input-file: " + h.shadow + "\n", ""},
		{"dot-dot to the shadow file", "", runner + "  input-file: ../etc/shadow\n",
			`cfg.yaml:13: actions[0] "a0".input-file: "../etc/shadow" is outside the config directory`},
		{"dot-dot in the middle", "", runner + "  input-file: scripts/../../etc/tls/ca.key\n",
			`cfg.yaml:13: actions[0] "a0".input-file: "scripts/../../etc/tls/ca.key" is outside`},
		{"symlink to the CA key", "", runner + "  input-file: scripts/key.sh\n",
			`cfg.yaml:13: actions[0] "a0".input-file: "scripts/key.sh" leads through a symlink to ` + h.caKey},
		{"http body-file through a symlink", "", runner + "  body-file: body.json\n",
			`cfg.yaml:13: actions[0] "a0".body-file: "body.json" leads through a symlink to ` + h.shadow},
		{"dot-dot on a controller action too", "", "  input-file: ../etc/shadow\n",
			`cfg.yaml:12: actions[0] "a0".input-file: "../etc/shadow" is outside`},
		{"route filter inside", "  input-files: [filters/ok.rego]\n", runner + "  exec-script: echo\n", ""},
		{"route filter through a dot-dot", "  input-files: [filters/ok.rego, ../etc/filters/x.rego]\n", runner + "  exec-script: echo\n",
			`cfg.yaml:5: routes[0] "r".input-files: "../etc/filters/x.rego" is outside`},
		{"route filter through a symlinked directory", "  input-files:\n  - linked-filters/x.rego\n", runner + "  exec-script: echo\n",
			`cfg.yaml:6: routes[0] "r".input-files: "linked-filters/x.rego" leads through a symlink`},
		{"absolute filter on a route with runner actions", "  input-files: [" + h.shadow + "]\n", runner + "  exec-script: echo\n",
			`cfg.yaml:5: routes[0] "r".input-files: "` + h.shadow + `" is outside`},
		{"absolute filter on a controller-only route", "  input-files: [" + filepath.Join(h.outside, "filters", "x.rego") + "]\n", "  exec-script: echo\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The template directory's own symlink is tested below.
			evil := filepath.Join(h.dir, "rego-templates", "evil.rego")
			os.Rename(evil, evil+".off")
			defer os.Rename(evil+".off", evil)
			err := h.load(t, tc.route, tc.action)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), h.dir+"/"+tc.want)):
				t.Fatalf("got %v\nwant %s", err, h.dir+"/"+tc.want)
			}
		})
	}
}

// TestTemplateSymlinkOutside: a .rego file in rego-templates that leads to
// the CA key is refused; the symlink that stays inside is not.
func TestTemplateSymlinkOutside(t *testing.T) {
	h := newHostile(t)
	err := h.load(t, "", "  exec-script: echo\n")
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 {
		t.Fatalf("got %v, want one error", err)
	}
	want := filepath.Join(h.dir, "cfg.yaml") + `: rego-templates/evil.rego: leads through a symlink to ` + h.caKey
	if !strings.HasPrefix(es[0].Error(), want) {
		t.Fatalf("got %v\nwant %s", es[0], want)
	}
}

// TestConfigDirectoryReachedThroughASymlink: /etc/postee may itself be a
// symlink (to a checkout, say); files inside its target are inside.
func TestConfigDirectoryReachedThroughASymlink(t *testing.T) {
	h := newHostile(t)
	os.Remove(filepath.Join(h.dir, "rego-templates", "evil.rego"))
	link := filepath.Join(t.TempDir(), "postee")
	if err := os.Symlink(h.dir, link); err != nil {
		t.Fatal(err)
	}
	h.dir = link
	if err := h.load(t, "  input-files: [filters/ok.rego]\n", "  runs-on: r1\n  input-file: scripts/relative-link.sh\n"); err != nil {
		t.Fatal(err)
	}
}
