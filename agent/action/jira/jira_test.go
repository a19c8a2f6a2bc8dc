package jira

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
)

// fakeJira serves the three endpoints the action uses.
type fakeJira struct {
	auth   string // expected Authorization header
	status int    // non-zero: answer issue creation with this

	mu       sync.Mutex
	issues   []map[string]any // guarded by mu
	searches []string         // guarded by mu
}

func (f *fakeJira) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != f.auth {
		http.Error(w, `{"errorMessages":["unauthorized"]}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/rest/api/2/field":
		w.Write([]byte(`[{"id":"summary","name":"Summary","schema":{"type":"string"}},
			{"id":"customfield_10014","name":"Epic Link","schema":{"type":"any"}},
			{"id":"customfield_10020","name":"Story Points","schema":{"type":"number"}},
			{"id":"customfield_10030","name":"Teams","schema":{"type":"array","items":"option"}}]`))
	case r.Method == http.MethodGet && r.URL.Path == "/rest/api/2/user/search":
		f.mu.Lock()
		f.searches = append(f.searches, r.URL.Query().Get("query"))
		f.mu.Unlock()
		w.Write([]byte(`[{"accountId":"5b10ac8d82e05b22cc7d4ef5"}]`))
	case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue":
		f.create(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeJira) create(w http.ResponseWriter, r *http.Request) {
	if f.status != 0 {
		http.Error(w, `{"errorMessages":["nope"]}`, f.status)
		return
	}
	var body struct {
		Fields map[string]any `json:"fields"`
	}
	if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.issues = append(f.issues, body.Fields)
	f.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(`{"id":"10000","key":"SEC-1"}`))
}

func newJira(t *testing.T, doc string) *Jira {
	t.Helper()
	a, err := New(testSpec(t, doc))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a.(*Jira)
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestSendCreatesIssue(t *testing.T) {
	// "postee@example.com:sekret-token" in base64.
	f := &fakeJira{auth: "Basic cG9zdGVlQGV4YW1wbGUuY29tOnNla3JldC10b2tlbg=="}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("TEST_JIRA_PASSWORD", "sekret-token")
	j := newJira(t, `
url: `+srv.URL+`/
user: postee@example.com
password: $TEST_JIRA_PASSWORD
project-key: sec
priority: High
labels: [trivy, alpine]
fix-versions: ["1.2"]
affects-versions: ["1.1"]
unknowns:
  Epic Link: SEC-7
  Story Points: 3
  teams: red, blue
`)
	msg := action.Message{Title: "alpine:3.10\nvulnerable", Body: "h1. Findings"}
	if retry, err := j.Send(context.Background(), msg); err != nil || retry {
		t.Fatalf("Send = %v, %v", retry, err)
	}
	if len(f.issues) != 1 {
		t.Fatalf("created %d issues", len(f.issues))
	}
	got := f.issues[0]
	want := map[string]string{
		"project":           `{"key":"SEC"}`,
		"issuetype":         `{"name":"Task"}`,
		"priority":          `{"name":"High"}`,
		"summary":           `"alpine:3.10 vulnerable"`,
		"description":       `"h1. Findings"`,
		"labels":            `["trivy","alpine"]`,
		"fixVersions":       `[{"name":"1.2"}]`,
		"versions":          `[{"name":"1.1"}]`,
		"assignee":          `{"name":"postee@example.com"}`,
		"customfield_10014": `"SEC-7"`,
		"customfield_10020": `3`,
		"customfield_10030": `[{"value":"red"},{"value":"blue"}]`,
	}
	for k, v := range want {
		if jsonOf(got[k]) != v {
			t.Errorf("field %s = %s, want %s", k, jsonOf(got[k]), v)
		}
	}
}

func TestSendCloudAssigneeAndToken(t *testing.T) {
	tests := []struct {
		name, doc, auth, wantAssignee string
	}{
		{"cloud looks up the account id once", "user: me@example.com\npassword: sekret\nassignee: [\"<%application_scope_owner%>\"]",
			"Basic bWVAZXhhbXBsZS5jb206c2VrcmV0", `{"accountId":"5b10ac8d82e05b22cc7d4ef5"}`},
		{"server personal access token", "token: sekret-pat", "Bearer sekret-pat", "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeJira{auth: tt.auth}
			srv := httptest.NewServer(f)
			defer srv.Close()
			j := newJira(t, "url: "+srv.URL+"\nproject-key: SEC\n"+tt.doc)
			j.cloud = strings.HasPrefix(tt.auth, "Basic")
			msg := action.Message{Title: "t", Input: map[string]any{"application_scope_owners": []any{"owner@example.com"}}}
			for range 2 {
				if _, err := j.Send(context.Background(), msg); err != nil {
					t.Fatal(err)
				}
			}
			if got := jsonOf(f.issues[1]["assignee"]); got != tt.wantAssignee {
				t.Errorf("assignee = %s, want %s", got, tt.wantAssignee)
			}
			if j.cloud && (len(f.searches) != 1 || f.searches[0] != "owner@example.com") {
				t.Errorf("user searches = %v, want one for the owner", f.searches)
			}
		})
	}
}

func TestSendFailures(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		auth      string
		unknowns  string
		wantRetry bool
	}{
		{"server error", http.StatusInternalServerError, "Bearer sekret-pat", "", true},
		{"bad request", http.StatusBadRequest, "Bearer sekret-pat", "", false},
		{"wrong credentials", 0, "Bearer other", "", false},
		{"unknown custom field", 0, "Bearer sekret-pat", "\nunknowns: {Nope: x}", false},
		{"custom number that is not one", 0, "Bearer sekret-pat", "\nunknowns: {Story Points: many}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&fakeJira{auth: tt.auth, status: tt.status})
			defer srv.Close()
			j := newJira(t, "url: "+srv.URL+"\nproject-key: SEC\ntoken: sekret-pat"+tt.unknowns)
			retry, err := j.Send(context.Background(), action.Message{Title: "t"})
			if err == nil || retry != tt.wantRetry {
				t.Fatalf("Send = %v, %v; want retry=%v", retry, err, tt.wantRetry)
			}
			noSecret(t, err, "sekret")
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"no url", "project-key: S\nuser: u\npassword: sekret", "url is required"},
		{"not a url", "project-key: S\nuser: u\npassword: sekret\nurl: jira.example.com", `cfg.yaml:6: actions[0] "test-action".url: must be an absolute http:// or https:// URL`},
		{"no project", "url: https://jira.example.com\nuser: u\npassword: sekret", "project-key is required"},
		{"no credentials", "url: https://jira.example.com\nproject-key: S\nuser: u", "user and password"},
		{"pat on cloud", "url: https://acme.atlassian.net\nproject-key: S\ntoken: sekret", "Server/Data Center"},
		{"typo", "url: https://jira.example.com\nproject-key: S\ntoken: sekret\nissue-type: Bug", `did you mean "issuetype"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(testSpec(t, tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want %q", err, tt.want)
			}
			noSecret(t, err, "sekret")
		})
	}
}

func TestTruncateKeepsRunes(t *testing.T) {
	s := truncate(strings.Repeat("é", 200), 255)
	if len(s) > 255 || !strings.HasSuffix(s, "…") || !json.Valid([]byte(jsonOf(s))) || strings.ContainsRune(s, '\uFFFD') {
		t.Errorf("truncate = %d bytes %q", len(s), s[len(s)-8:])
	}
}
