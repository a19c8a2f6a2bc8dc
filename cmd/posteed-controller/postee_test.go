package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
	p.AwaitLog(t, "action done", startTimeout)
	if !strings.Contains(p.Stdout(), `"image":"alpine:3.10"`) {
		t.Errorf("the stdout action printed %q", p.Stdout())
	}
}
