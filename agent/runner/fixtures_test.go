package runner

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/internal/fleettest"
)

// seqReceiver stands for the controller's HTTP destination: the test config
// posts "seq=N" for every event, and the receiver counts each N.
type seqReceiver struct{ *fleettest.Receiver }

func newSeqReceiver(t *testing.T) *seqReceiver { return &seqReceiver{fleettest.NewReceiver(t)} }

// counts is how often each seq arrived, and the bodies without one.
func (r *seqReceiver) counts() (seqs map[int]int, bad []string) {
	seqs = map[int]int{}
	for _, b := range r.Got("/") {
		n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(b), "seq="))
		if err != nil {
			bad = append(bad, b)
			continue
		}
		seqs[n]++
	}
	return seqs, bad
}

// exactlyOnce reports whether every seq in [from, to) arrived once and
// nothing else arrived.
func (r *seqReceiver) exactlyOnce(from, to int) bool {
	seqs, bad := r.counts()
	if len(bad) > 0 || len(seqs) != to-from {
		return false
	}
	for n := from; n < to; n++ {
		if seqs[n] != 1 {
			return false
		}
	}
	return true
}

// distinct is how many different seqs arrived.
func (r *seqReceiver) distinct() int {
	seqs, _ := r.counts()
	return len(seqs)
}

// diagnose describes what is missing or repeated, for a failure message.
func (r *seqReceiver) diagnose(from, to int) string {
	seqs, bad := r.counts()
	var missing, repeated []int
	for n := from; n < to; n++ {
		switch c := seqs[n]; {
		case c == 0:
			missing = append(missing, n)
		case c > 1:
			repeated = append(repeated, n)
		}
	}
	return fmt.Sprintf("%d distinct, missing %v, repeated %v, unparsable %q", len(seqs), head(missing), head(repeated), bad)
}

func head(s []int) []int { return s[:min(len(s), 10)] }

// testCfg is the controller's cfg.yaml: events marked "local" run an exec
// action on runner r1 (writing the event id to out) and all events post
// their seq to recv from the controller.
func testCfg(t *testing.T, recv, out string) string {
	t.Helper()
	return fleettest.WriteCfg(t, t.TempDir(), fmt.Sprintf(`routes:
- name: local
  input: input.local == true
  actions: [runner-exec, controller-post]
  template: raw-json
- name: fleet
  input: not input.local
  actions: [controller-post]
  template: raw-json

templates:
- name: raw-json
  rego-package: postee.rawmessage.json

actions:
- name: runner-exec
  runs-on: r1
  type: exec
  enable: true
  exec-script: |
    #!/bin/sh
    echo "$POSTEE_EVENT_ID $POSTEE_ROUTE" >> %[2]s
- name: controller-post
  type: http
  enable: true
  url: "%[1]s/"
  method: POST
  body-content: "seq=event.input.seq"
`, recv, out))
}

// traceeLines holds one line of each Tracee shape: the legacy SigMetadata
// lines and the current metadata.Properties finding, compacted.
func traceeLines(t testing.TB) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(fleettest.Sample(t, "tracee-findings.jsonl")), "\n")
	return append(lines, fleettest.Sample(t, "tracee-finding.json"))
}

// seqLines makes lines [from, to) from the samples in turn, each with its
// seq injected as the first key; local ones also carry "local":true.
func seqLines(samples []string, from, to int, local bool) string {
	var b strings.Builder
	for n := from; n < to; n++ {
		s := samples[n%len(samples)]
		fmt.Fprintf(&b, `{"seq":%d,`, n)
		if local {
			b.WriteString(`"local":true,`)
		}
		b.WriteString(s[1:])
		b.WriteByte('\n')
	}
	return b.String()
}

// tracee1 prepares the usual cast: a controller with testCfg, and runner r1
// following one Tracee file listed in its runner.toml.
type tracee1 struct {
	logs   *fleettest.Logs // the runner's
	recv   *seqReceiver
	out    string // the runner's exec output
	file   string // the followed Tracee file
	ctrl   *fleettest.Controller
	runner *runnerHarness
}

// Without tweaks runner.toml lists the file; a test that tweaks the settings
// writes its own runner.toml.
func newTracee1(t *testing.T, tweak ...func(*Settings)) *tracee1 {
	t.Helper()
	dir := t.TempDir()
	x := &tracee1{logs: fleettest.NewLogs(t), recv: newSeqReceiver(t), out: filepath.Join(dir, "exec.out"), file: filepath.Join(dir, "tracee", "events.json")}
	certs := fleettest.NewCerts(t, "r1")
	x.ctrl = fleettest.StartController(t, certs, testCfg(t, x.recv.URL, x.out))
	fleettest.WriteFile(t, x.file, "")
	x.runner = newRunner(t, certs, "r1", x.ctrl.Ctrl.NATSURL(), x.logs,
		append([]func(*Settings){func(s *Settings) { s.TraceeFiles = []string{x.file} }}, tweak...)...)
	if cfg := x.runner.opts.Settings.ConfigFile; len(tweak) == 0 {
		fleettest.WriteFile(t, cfg, fmt.Sprintf("[discovery]\ntracee-files = [%q]\n", x.file))
	}
	x.runner.start()
	fleettest.Eventually(t, "runner config", func() bool { return x.runner.r.Revision() > 0 })
	return x
}
