package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDryRunExpectAndPreview: test --expect fails when a route does not
// match, and http bodies are shown after substitution, wherever the action
// runs.
func TestDryRunExpectAndPreview(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, ev := filepath.Join(dir, "cfg.yaml"), filepath.Join(dir, "ev.json")
	writeFile(t, ev, `{"image": "alpine:3.10", "scan": {"critical": 2}}`)
	writeFile(t, cfg, `routes:
- name: images
  input: input.image
  actions: [hook, on-runner, runner-file]
  template: raw
- name: never
  input: input.nothing
  actions: [hook]
  template: raw
templates:
- name: raw
  rego-package: postee.rawmessage.json
actions:
- name: hook
  type: http
  enable: true
  url: https://example.com/hook
  body-content: '{"img": "event.input.image", "critical": event.input.scan.critical}'
- name: on-runner
  type: http
  enable: true
  runs-on: postee-runner-1
  url: https://example.com/hook
  body-content: 'image event.input.image'
- name: runner-file
  type: http
  enable: true
  runs-on: postee-runner-1
  url: https://example.com/hook
  body-file: /etc/postee/body.json
`)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // each must be in the output
		stderr string
	}{
		{"previews", nil, 0, []string{
			"  action \"hook\" runs on the controller\n    sends:\n      {\"img\": \"alpine:3.10\", \"critical\": 2}\n",
			"  action \"on-runner\" runs on runner \"postee-runner-1\"\n    sends:\n      image alpine:3.10\n",
			"    sends:\n      (body-file /etc/postee/body.json, read and filled in on the runner)\n",
		}, ""},
		{"expect a match", []string{"--expect", "images"}, 0, []string{`route "images" matches`}, ""},
		{"expect a route that does not match", []string{"--expect", "images", "--expect", "never"}, 1, []string{`route "images" matches`}, "expected route never to match; it did not"},
		{"expect an unknown route", []string{"--expect", "nope"}, 1, nil, "--expect nope: no such route"},
		{"expect with no match", []string{"--route", "never", "--expect", "never"}, 1, []string{"no route matches"}, "expected route never to match"},
		{"no match without expect", []string{"--route", "never"}, 0, []string{"no route matches"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, append([]string{"test", "--cfgfile", cfg, "--event", ev}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}
