package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// seqKey is the field every posted event carries first: its sequence
// number, which the raw-json message the sink receives quotes back.
const seqKey = `"posteed_load_seq"`

// sample is one event shape the load cycles through.
type sample struct {
	name string
	body []byte // compact JSON object
}

// webhookSamples are the events posted to an intake: a Trivy report and a
// Tracee finding alternating, the finding in its legacy and current shape
// in turn.
func webhookSamples(dir string) ([]sample, error) {
	return readSamples(dir, "trivy-image-report.json", "tracee-finding-legacy.json", "trivy-image-report.json", "tracee-finding.json")
}

// traceeSamples are the lines appended to the followed Tracee file: the
// legacy findings of tracee-findings.jsonl and one current-shape finding.
func traceeSamples(dir string) ([]sample, error) {
	b, err := os.ReadFile(filepath.Join(dir, "tracee-findings.jsonl"))
	if err != nil {
		return nil, err
	}
	var out []sample
	for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		s, err := compactSample(fmt.Sprintf("tracee-findings.jsonl:%d", i+1), line)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	cur, err := readSamples(dir, "tracee-finding.json")
	if err != nil {
		return nil, err
	}
	return append(out, cur...), nil
}

func readSamples(dir string, names ...string) ([]sample, error) {
	var out []sample
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		s, err := compactSample(n, b)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func compactSample(name string, b []byte) (sample, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return sample{}, fmt.Errorf("%s: %w", name, err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("{")) {
		return sample{}, fmt.Errorf("%s: not a JSON object", name)
	}
	return sample{name: name, body: buf.Bytes()}, nil
}

// tagged is s's event with seq as its first field.
func (s sample) tagged(seq int) []byte {
	b := make([]byte, 0, len(s.body)+len(seqKey)+12)
	b = append(b, '{')
	b = append(b, seqKey...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(seq), 10)
	if len(s.body) > 2 { // not {}
		b = append(b, ',')
	}
	return append(b, s.body[1:]...)
}

// seqOf finds the sequence number in a message the sink received: the
// rendered event, re-encoded (whitespace and key order may differ).
func seqOf(body []byte) (int, bool) {
	i := bytes.Index(body, []byte(seqKey))
	if i < 0 {
		return 0, false
	}
	rest := bytes.TrimLeft(body[i+len(seqKey):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return 0, false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	n, digits := 0, 0
	for _, c := range rest {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
		digits++
	}
	return n, digits > 0 && digits < 10
}

// routes are the benchmark's 10 Rego routes: the seeds' style (one
// condition each, raw-json), some matching the samples and some none, so
// every Trivy report and every Tracee finding of the webhook samples
// matches two routes, and each Tracee line one or two.
var routes = []struct{ name, input string }{
	{"trivy-alpine", `contains(input.ArtifactName, "alpine")`},
	{"container-image", `input.ArtifactType == "container_image"`},
	{"trc-1", `contains(input.SigMetadata.ID, "TRC-1")`},
	{"trc-2", `contains(input.SigMetadata.ID, "TRC-2")`},
	{"trc-3", `contains(input.SigMetadata.ID, "TRC-3")`},
	{"trc-102", `input.metadata.Properties.signatureID == "TRC-102"`},
	{"tracee-severe", `input.SigMetadata.Properties.Severity >= 3`},
	{"critical-scan", `input.vulnerability_summary.critical > 0`},
	{"node-1", `input.hostName == "node-1"`},
	{"nginx", `input.image == "nginx"`},
}

// cfgYAML is the Postee config: the routes, raw-json, and one http action
// per route posting to sink/<route>; runsOn places the actions on a runner
// ("": on the controller).
func cfgYAML(sink, runsOn string) string {
	var b strings.Builder
	b.WriteString("name: posteed-load\nroutes:\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "- name: %s\n  input: '%s'\n  actions: [sink-%s]\n  template: raw-json\n", r.name, r.input, r.name)
	}
	b.WriteString("templates:\n- name: raw-json\n  rego-package: postee.rawmessage.json\nactions:\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "- name: sink-%s\n  type: http\n  enable: true\n  url: %s/%s\n  method: POST\n", r.name, sink, r.name)
		if runsOn != "" {
			fmt.Fprintf(&b, "  runs-on: %s\n", runsOn)
		}
	}
	return b.String()
}
