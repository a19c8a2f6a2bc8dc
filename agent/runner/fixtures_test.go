package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/postee-fleet/posteed/agent/logx/logxtest"
)

// logSink keeps every log record as one text line so tests can assert what
// was logged; POSTEED_TEST_LOG=1 also prints them.
type logSink struct {
	mu    sync.Mutex
	lines []string // guarded by mu
	errs  logxtest.Checker
}

func (s *logSink) logger(daemon string) *slog.Logger {
	return slog.New(s.errs.Wrap(&sinkHandler{sink: s})).With("daemon", daemon)
}

// has reports whether a record holds every one of parts.
func (s *logSink) has(parts ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
next:
	for _, l := range s.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		return true
	}
	return false
}

type sinkHandler struct {
	sink  *logSink
	attrs []slog.Attr
}

func (h *sinkHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *sinkHandler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	th := slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})
	if err := th.WithAttrs(h.attrs).Handle(context.Background(), r); err != nil {
		return err
	}
	if os.Getenv("POSTEED_TEST_LOG") != "" {
		os.Stderr.Write(b.Bytes())
	}
	h.sink.mu.Lock()
	h.sink.lines = append(h.sink.lines, b.String())
	h.sink.mu.Unlock()
	return nil
}

func (h *sinkHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &sinkHandler{sink: h.sink, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *sinkHandler) WithGroup(string) slog.Handler { return h }

// seqReceiver stands for the controller's HTTP destination: the test config
// posts "seq=N" for every event, and the receiver counts each N.
type seqReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	seqs map[int]int // guarded by mu
	bad  []string    // guarded by mu
}

func newSeqReceiver(t *testing.T) *seqReceiver {
	r := &seqReceiver{seqs: map[int]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(string(b)), "seq="))
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.bad = append(r.bad, string(b))
			return
		}
		r.seqs[n]++
	}))
	t.Cleanup(r.Close)
	return r
}

// exactlyOnce reports whether every seq in [from, to) arrived once and
// nothing else arrived.
func (r *seqReceiver) exactlyOnce(from, to int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 || len(r.seqs) != to-from {
		return false
	}
	for n := from; n < to; n++ {
		if r.seqs[n] != 1 {
			return false
		}
	}
	return true
}

// distinct is how many different seqs arrived.
func (r *seqReceiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seqs)
}

// diagnose describes what is missing or repeated, for a failure message.
func (r *seqReceiver) diagnose(from, to int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var missing, repeated []int
	for n := from; n < to; n++ {
		switch c := r.seqs[n]; {
		case c == 0:
			missing = append(missing, n)
		case c > 1:
			repeated = append(repeated, n)
		}
	}
	return fmt.Sprintf("%d distinct, missing %v, repeated %v, unparsable %q", len(r.seqs), head(missing), head(repeated), r.bad)
}

func head(s []int) []int { return s[:min(len(s), 10)] }

// testCfg is the controller's cfg.yaml: events marked "local" run an exec
// action on runner r1 (writing the event id to out) and all events post
// their seq to recv from the controller.
func testCfg(t *testing.T, recv, out string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cfg.yaml")
	writeFile(t, p, fmt.Sprintf(`routes:
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
	return p
}

// traceeLines holds one line of each Tracee shape: the legacy SigMetadata
// lines and the current metadata.Properties finding, compacted.
func traceeLines(t testing.TB) []string {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "events")
	b, err := os.ReadFile(filepath.Join(dir, "tracee-findings.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	cur, err := os.ReadFile(filepath.Join(dir, "tracee-finding.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c bytes.Buffer
	if err := json.Compact(&c, cur); err != nil {
		t.Fatal(err)
	}
	return append(lines, c.String())
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

// readLines returns the non-empty lines of path.
func readLines(path string) []string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// tracee1 prepares the usual cast: a controller with testCfg, and runner r1
// following one Tracee file listed in its runner.toml.
type tracee1 struct {
	logs   *logSink
	recv   *seqReceiver
	out    string // the runner's exec output
	file   string // the followed Tracee file
	ctrl   *ctrlHarness
	runner *runnerHarness
}

// Without tweaks runner.toml lists the file; a test that tweaks the settings
// writes its own runner.toml.
func newTracee1(t *testing.T, tweak ...func(*Settings)) *tracee1 {
	t.Helper()
	dir := t.TempDir()
	x := &tracee1{logs: &logSink{}, recv: newSeqReceiver(t), out: filepath.Join(dir, "exec.out"), file: filepath.Join(dir, "tracee", "events.json")}
	certs := testCerts(t, "r1")
	x.ctrl = startController(t, certs, testCfg(t, x.recv.URL, x.out), "", x.logs)
	writeFile(t, x.file, "")
	x.runner = newRunner(t, certs, "r1", x.ctrl.ctrl.NATSURL(), x.logs,
		append([]func(*Settings){func(s *Settings) { s.TraceeFiles = []string{x.file} }}, tweak...)...)
	if cfg := x.runner.opts.Settings.ConfigFile; len(tweak) == 0 {
		writeFile(t, cfg, fmt.Sprintf("[discovery]\ntracee-files = [%q]\n", x.file))
	}
	x.runner.start()
	eventually(t, "runner config", func() bool { return x.runner.r.Revision() > 0 })
	return x
}
