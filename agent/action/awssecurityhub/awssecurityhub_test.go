package awssecurityhub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/actiontest"
)

// testEnv gives the AWS chain static credentials and a region, and keeps it
// away from the host's files and instance metadata.
func testEnv(t *testing.T, region string) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "sekret-access-key", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": region, "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
}

// securityHub stands in for the BatchImportFindings endpoint, checking the
// request is signed for the region and the service.
type securityHub struct {
	mu      sync.Mutex
	batches [][]map[string]any // guarded by mu
	status  int                // non-zero: answer with this
	refuse  bool               // report every finding as failed
}

func (s *securityHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if r.Method != http.MethodPost || r.URL.Path != "/findings/import" ||
		!strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(auth, "/eu-west-2/securityhub/aws4_request") {
		http.Error(w, `{"message":"unexpected request"}`, http.StatusBadRequest)
		return
	}
	if s.status != 0 {
		w.Header().Set("X-Amzn-Errortype", "InternalException")
		http.Error(w, `{"message":"try later"}`, s.status)
		return
	}
	var in struct{ Findings []map[string]any }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"message":"bad json"}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.batches = append(s.batches, in.Findings)
	s.mu.Unlock()
	out := map[string]any{"SuccessCount": len(in.Findings), "FailedCount": 0, "FailedFindings": []any{}}
	if s.refuse {
		out = map[string]any{"SuccessCount": 0, "FailedCount": len(in.Findings), "FailedFindings": []any{
			map[string]any{"Id": in.Findings[0]["Id"], "ErrorCode": "InvalidInput", "ErrorMessage": "Finding does not adhere to ASFF"},
		}}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (s *securityHub) got() [][]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}

// trivyReport is n findings in the shape of Trivy's ASFF template.
func trivyReport(n int) string {
	var fs []string
	for i := range n {
		fs = append(fs, fmt.Sprintf(`{
  "SchemaVersion": "2018-10-08",
  "Id": "alpine:3.10 (alpine 3.10.9)/CVE-2021-%04d",
  "ProductArn": "arn:aws:securityhub:eu-west-2::product/aquasecurity/aquasecurity",
  "GeneratorId": "Trivy/CVE-2021-%04d",
  "AwsAccountId": "123456789012",
  "Types": ["Software and Configuration Checks/Vulnerabilities/CVE"],
  "CreatedAt": "2024-05-01T10:00:00Z",
  "UpdatedAt": "2024-05-02T10:00:00Z",
  "Severity": {"Label": "CRITICAL"},
  "Title": "Trivy found a vulnerability to CVE-2021-%04d in container alpine:3.10",
  "Description": "libfetch mishandles numeric strings",
  "Remediation": {"Recommendation": {"Text": "See the link", "Url": "https://avd.aquasec.com/nvd/cve-2021-%04d"}},
  "ProductFields": {"Product Name": "Trivy"},
  "Resources": [{"Type": "Container", "Id": "alpine:3.10", "Partition": "aws", "Region": "eu-west-2"}],
  "RecordState": "ACTIVE"
}`, i, i, i, i))
	}
	return `{"Findings": [` + strings.Join(fs, ",") + `]}`
}

func newHub(t *testing.T, srv *httptest.Server) action.Action {
	t.Helper()
	testEnv(t, "eu-west-2")
	a, err := New(actiontest.GuardedSpec(t, "awssecurityhub", "endpoint: "+srv.URL+"\n", "sekret"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The ASFF sent is Postee's mapping of Trivy's finding.
func TestImportMapsFindings(t *testing.T) {
	hub := &securityHub{}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	if retry, err := newHub(t, srv).Send(context.Background(), action.Message{Body: trivyReport(1)}); err != nil || retry {
		t.Fatalf("Send = %v, %v", retry, err)
	}
	got := hub.got()
	if len(got) != 1 || len(got[0]) != 1 {
		t.Fatalf("batches = %v", got)
	}
	f := got[0][0]
	want := map[string]any{
		"SchemaVersion": "2018-10-08", "Id": "alpine:3.10 (alpine 3.10.9)/CVE-2021-0000",
		"ProductArn":  "arn:aws:securityhub:eu-west-2::product/aquasecurity/aquasecurity",
		"GeneratorId": "Trivy/CVE-2021-0000", "AwsAccountId": "123456789012",
		"CreatedAt": "2024-05-01T10:00:00Z", "UpdatedAt": "2024-05-02T10:00:00Z",
		"Title":       "Trivy found a vulnerability to CVE-2021-0000 in container alpine:3.10",
		"Description": "libfetch mishandles numeric strings",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %v, want %v", k, f[k], v)
		}
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for k, v := range map[string]string{
		"Types":       `["Software and Configuration Checks/Vulnerabilities/CVE"]`,
		"Severity":    `{"Label":"CRITICAL"}`,
		"Remediation": `{"Recommendation":{"Text":"See the link","Url":"https://avd.aquasec.com/nvd/cve-2021-0000"}}`,
		"Resources":   `[{"Id":"alpine:3.10 (alpine 3.10.9)/CVE-2021-0000","Type":"Software and Configuration Checks/Vulnerabilities/CVE"}]`,
	} {
		if js(f[k]) != v {
			t.Errorf("%s = %s, want %s", k, js(f[k]), v)
		}
	}
}

func TestImportInBatchesOf100(t *testing.T) {
	hub := &securityHub{}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	if _, err := newHub(t, srv).Send(context.Background(), action.Message{Body: trivyReport(250)}); err != nil {
		t.Fatal(err)
	}
	got := hub.got()
	if len(got) != 3 || len(got[0]) != 100 || len(got[1]) != 100 || len(got[2]) != 50 || got[2][49]["Id"] != "alpine:3.10 (alpine 3.10.9)/CVE-2021-0249" {
		t.Fatalf("%d batches", len(got))
	}
}

func TestImportFailures(t *testing.T) {
	tests := []struct {
		name      string
		hub       *securityHub
		body      string
		wantErr   string
		wantRetry bool
	}{
		{"server error", &securityHub{status: http.StatusServiceUnavailable}, trivyReport(1), "503", true},
		{"throttled", &securityHub{status: http.StatusTooManyRequests}, trivyReport(1), "429", true},
		{"refused request", &securityHub{status: http.StatusBadRequest}, trivyReport(1), "400", false},
		{"refused findings", &securityHub{refuse: true}, trivyReport(2), "refused 1 finding(s), first alpine:3.10 (alpine 3.10.9)/CVE-2021-0000: InvalidInput", false},
		{"no findings", &securityHub{}, `{"Findings": []}`, "no findings", false},
		{"not a report", &securityHub{}, `<html>`, "not Trivy's ASFF report", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.hub)
			defer srv.Close()
			retry, err := newHub(t, srv).Send(context.Background(), action.Message{Body: tt.body})
			if err == nil || retry != tt.wantRetry || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Send = %v, %v; want retry=%v and %q", retry, err, tt.wantRetry, tt.wantErr)
			}
			actiontest.NoSecret(t, err, "sekret-access-key")
		})
	}
}

func TestConfig(t *testing.T) {
	testEnv(t, "")
	if _, err := New(actiontest.Spec(t, "name: h\ntype: awssecurityhub\n")); err == nil || !strings.Contains(err.Error(), "no AWS region") {
		t.Fatalf("without a region: %v", err)
	}
	if _, err := New(actiontest.Spec(t, "name: h\ntype: awssecurityhub\nregion: eu-west-2\n")); err != nil {
		t.Fatalf("region key: %v", err)
	}
	spec := actiontest.Spec(t, "name: h\ntype: awssecurityhub\n")
	spec.Remote = true
	if _, err := New(spec); err != nil {
		t.Fatalf("a runner's action needs no region here: %v", err)
	}
	if _, err := New(actiontest.Spec(t, "name: h\ntype: awssecurityhub\nregion: eu-west-2\nendpoint: securityhub\n")); err == nil || !strings.Contains(err.Error(), `"h".endpoint: must be an absolute`) {
		t.Fatalf("bad endpoint: %v", err)
	}
}
