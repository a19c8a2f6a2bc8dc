package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPosteeGoldens renders Postee's own templates, dropped into
// rego-templates as a Postee user would, on Postee's test inputs, and
// compares with Postee's goldens (regoservice/testdata). Postee's files are
// not in this repository: set POSTEE_REPO to a checkout of
// github.com/aquasecurity/postee to run it, e.g.
//
//	git clone https://github.com/aquasecurity/postee /tmp/postee
//	POSTEE_REPO=/tmp/postee go test -run TestPosteeGoldens ./agent/engine
//
// The templates of testdata/postee-style (ours, using the same features)
// run without it in TestPosteeStyleTemplates.
func TestPosteeGoldens(t *testing.T) {
	repo := os.Getenv("POSTEE_REPO")
	if repo == "" {
		t.Skip("POSTEE_REPO is not set (a checkout of github.com/aquasecurity/postee)")
	}
	td := filepath.Join(repo, "regoservice", "testdata")
	tests := []struct {
		template, pkg, input, golden string
		title, url                   string
	}{
		{"testdata:html.rego", "rego1.html", "simple-input.json", "html.golden", "Audit event received", "Audit-registry-received/Audit-image-received"},
		{"testdata:html-with-complex-pkg.rego", "rego2.html", "simple-input.json", "html-with-complex-pkg.golden", "Audit event received", "Audit-registry-received/Audit-image-received"},
		{"testdata:json.rego", "rego1.json", "simple-input.json", "json.golden", "Audit event received", "Audit-registry-received/Audit-image-received"},
		{"testdata:json-without-url.rego", "rego1.json.without.url", "simple-input.json", "json-without-url.golden", "Audit event received", ""},
		{"raw-message-html.rego", "postee.rawmessage.html", "simple-input.json", "raw-message-html.golden", "Raw Message Received", ""},
		{"raw-message-json.rego", "postee.rawmessage.json", "simple-input.json", "raw-message-json.golden", "-", ""},
		{"trivy-jira.rego", "postee.trivy.jira", "trivy-input.json", "trivy-jira.golden", "pom.xml vulnerability scan report", ""},
		{"trivy-vulns-slack.rego", "postee.vuls.trivy.slack", "trivy-input.json", "trivy-vulns-slack.golden", "Vulnerability scan report", ""},
		{"vuls-html.rego", "postee.vuls.html", "aqua-input.json", "vuls-html.golden", "all-in-one:3.5.19223 vulnerability scan report", ""},
		{"vuls-slack.rego", "postee.vuls.slack", "aqua-input.json", "vuls-slack.golden", "all-in-one:3.5.19223 vulnerability scan report", ""},
		{"vuls-cyclonedx.rego", "postee.vuls.cyclondx", "aqua-input.json", "vuls-cyclonedx.golden", "all-in-one:3.5.19223", ""},
		{"servicenow.rego", "postee.servicenow", "aqua-input.json", "servicenow.golden", "Aqua security | image | all-in-one:3.5.19223 | Scan report", ""},
		{"servicenow-incident.rego", "postee.servicenow.incident", "aqua-incident-input.json", "servicenow-incident.golden", "test", ""},
		{"servicenow-insight.rego", "postee.servicenow.insight", "aqua-insight-input.json", "servicenow-insight.golden", "Workloads or images containing login data", ""},
		{"trivy-operator-jira.rego", "postee.trivyoperator.jira", "trivy-operator-input.json", "trivy-operator-jira.golden", "Vulnerability issue with image library/nginx:1.16 in namespace default", ""},
		{"trivy-operator-slack.rego", "postee.trivyoperator.slack", "trivy-operator-input.json", "trivy-operator-slack.golden", "Vulnerability scan report library/nginx:1.16", ""},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			dir := t.TempDir()
			files := posteeTemplates(t, filepath.Join(repo, "rego-templates"))
			if name, ok := strings.CutPrefix(tt.template, "testdata:"); ok {
				files["rego-templates/test/"+name] = readFile(t, filepath.Join(td, "templates", name))
			}
			cfg := load(t, dir, "routes:\n- name: r\n  template: t\ntemplates:\n- name: t\n  rego-package: "+tt.pkg+"\n", files)
			e, err := New(context.Background(), cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			ms, err := e.Evaluate(context.Background(), event(t, readFile(t, filepath.Join(td, "inputs", tt.input))), "")
			if err != nil || len(ms) != 1 {
				t.Fatalf("%v %v", err, ms)
			}
			m := ms[0].Msg
			if want := readFile(t, filepath.Join(td, "goldens", tt.golden)); m.Body != want {
				t.Errorf("result differs from %s:\n got %q\nwant %q", tt.golden, m.Body, want)
			}
			if m.Title != tt.title || m.URL != tt.url {
				t.Errorf("title %q url %q, want %q %q", m.Title, m.URL, tt.title, tt.url)
			}
		})
	}
}

// posteeTemplates reads every .rego file of a Postee rego-templates
// directory (its example/ folder aside) as files for load.
func posteeTemplates(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "example" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".rego") {
			rel, _ := filepath.Rel(dir, path)
			files[filepath.Join("rego-templates", rel)] = readFile(t, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPosteeStyleTemplates renders the templates of testdata/postee-style
// (ours, written the way Postee's are: v0 Rego, data.postee helpers from
// the user's own package postee, jsonformat, input.postee.AquaServer,
// aggregation packages, packages that replace bundled ones) dropped into
// rego-templates, and compares with the goldens Postee's evaluator
// produced for the same files (see testdata/postee-style/README.md).
func TestPosteeStyleTemplates(t *testing.T) {
	src := filepath.Join("testdata", "postee-style")
	const aqua = "https://aqua.example"
	tests := []struct {
		golden, pkg, aquaServer string
		inputs                  []string // more than one: aggregated
	}{
		{"raw-json", "postee.rawmessage.json", "", []string{"audit.json"}},
		{"raw-html", "postee.rawmessage.html", "", []string{"tracee-legacy.json"}},
		{"vuls-html", "postee.vuls.html", aqua, []string{"aqua-scan.json"}},
		{"vuls-html-no-aqua-server", "postee.vuls.html", "", []string{"aqua-scan-2.json"}},
		{"vuls-html-aggregated", "postee.vuls.html", aqua, []string{"aqua-scan.json", "aqua-scan-2.json"}},
		{"vuls-slack", "postee.vuls.slack", "", []string{"aqua-scan.json"}},
		{"vuls-slack-aggregated", "postee.vuls.slack", "", []string{"aqua-scan.json", "aqua-scan-2.json"}},
		{"trivy-jira", "postee.trivy.jira", "", []string{"trivy-report.json"}},
		{"tracee-html", "postee.tracee.html", "", []string{"tracee-legacy.json"}},
		{"tracee-slack", "postee.tracee.slack", "", []string{"tracee-legacy.json"}},
		{"trivy-operator-slack", "postee.trivyoperator.slack", "", []string{"trivy-operator.json"}},
		{"trivy-operator-dependencytrack", "postee.trivyoperator.dependencytrack", "", []string{"trivy-operator.json"}},
		{"trivy-operator-jira", "postee.trivyoperator.jira", "", []string{"trivy-operator.json"}},
		{"trivy-vulns-slack", "postee.vuls.trivy.slack", "", []string{"trivy-report-2.json"}},
		{"trivy-vulns-slack-aggregated", "postee.vuls.trivy.slack", "", []string{"trivy-report.json", "trivy-report-2.json"}},
		{"vuls-cyclonedx", "postee.vuls.cyclondx", "", []string{"aqua-scan-scored.json"}},
		{"vuls-opsgenie", "postee.vuls.opsgenie", "", []string{"aqua-scan.json"}},
		// Postee also read the servicenow packages' result_* documents
		// (date, severity, category, ...) for its serviceNow action; only
		// title, result and url are compared here.
		{"servicenow", "postee.servicenow", aqua, []string{"aqua-scan.json"}},
		{"servicenow-no-aqua-server", "postee.servicenow", "", []string{"aqua-scan-2.json"}},
		{"servicenow-incident", "postee.servicenow.incident", "", []string{"aqua-incident.json"}},
		{"servicenow-insight", "postee.servicenow.insight", aqua, []string{"aqua-insight.json"}},
		{"audit-json", "mine.audit.json", "", []string{"audit.json"}},
	}
	files := posteeTemplates(t, filepath.Join(src, "rego-templates"))
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var want struct{ Title, Description, URL string }
			if err := json.Unmarshal([]byte(readFile(t, filepath.Join(src, "goldens", tt.golden+".json"))), &want); err != nil {
				t.Fatal(err)
			}
			yaml := "routes:\n- name: r\n  template: t\n"
			if len(tt.inputs) > 1 {
				yaml += fmt.Sprintf("  plugins:\n    aggregate-message-number: %d\n", len(tt.inputs))
			}
			yaml += "templates:\n- name: t\n  rego-package: " + tt.pkg + "\n"
			if tt.aquaServer != "" {
				yaml += "aqua-server: " + tt.aquaServer + "\n"
			}
			e, err := New(context.Background(), load(t, t.TempDir(), yaml, files), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			pl := newPipeline(e)
			var ms []Match
			for _, in := range tt.inputs {
				ms, _ = pl.handle(t, event(t, readFile(t, filepath.Join(src, "inputs", in))))
			}
			if len(ms) != 1 {
				t.Fatalf("matches %+v, want one message to send", ms)
			}
			if m := ms[0].Msg; m.Title != want.Title || m.Body != want.Description || m.URL != want.URL {
				t.Errorf("got\n title %q\n result %q\n url %q\nPostee rendered\n title %q\n result %q\n url %q", m.Title, m.Body, m.URL, want.Title, want.Description, want.URL)
			}
		})
	}
}
