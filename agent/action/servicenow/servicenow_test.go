package servicenow

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

type fakeSN struct {
	status  int
	mu      sync.Mutex
	records []map[string]any // guarded by mu
	paths   []string         // guarded by mu
}

func (f *fakeSN) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != "admin" || pass != "sekret-pw" {
		http.Error(w, `{"error":{"message":"User Not Authenticated"}}`, http.StatusUnauthorized)
		return
	}
	var rec map[string]any
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&rec) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.records, f.paths = append(f.records, rec), append(f.paths, r.URL.Path)
	f.mu.Unlock()
	if f.status != 0 {
		http.Error(w, `{"error":{}}`, f.status)
		return
	}
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(`{"result":{"sys_id":"1"}}`))
}

func newSN(t *testing.T, doc string) action.Action {
	t.Helper()
	t.Setenv("TEST_SN_PASSWORD", "sekret-pw")
	a, err := New(testSpec(t, "user: admin\npassword: $TEST_SN_PASSWORD\n"+doc))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func jsonOf(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return strings.TrimSpace(b.String())
}

func TestSendRecord(t *testing.T) {
	tests := []struct {
		name, board, wantPath string
		msg                   action.Message
		want                  map[string]string
	}{
		{"html body into incident", "", "/api/now/table/incident", action.Message{Title: "Scan alpine", Body: "<p>x</p>"},
			map[string]string{"short_description": `"Scan alpine"`, "caller_id": `"admin"`, "work_notes": `"[code]<p>x</p>[/code]"`, "description": `"<p>x</p>"`}},
		{"postee json body into a board", "board: sn_si_incident\n", "/api/now/table/sn_si_incident",
			action.Message{Title: "T", Body: `{"summary":"s","description":"d","severity":2,"date":"1700000000","category":"Security","assignedGroup":"SecOps"}`},
			map[string]string{"description": `"s"`, "work_notes": `"[code]d[/code]"`, "impact": "2", "urgency": "2",
				"opened_at": `"2023-11-14 22:13:20"`, "category": `"Security"`, "assignment_group": `"SecOps"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSN{}
			srv := httptest.NewServer(f)
			defer srv.Close()
			if retry, err := newSN(t, tt.board+"url: "+srv.URL).Send(context.Background(), tt.msg); err != nil || retry {
				t.Fatalf("Send = %v, %v", retry, err)
			}
			if f.paths[0] != tt.wantPath {
				t.Errorf("path = %s, want %s", f.paths[0], tt.wantPath)
			}
			for k, v := range tt.want {
				if got := jsonOf(f.records[0][k]); got != v {
					t.Errorf("%s = %s, want %s", k, got, v)
				}
			}
		})
	}
}

func TestSendStatus(t *testing.T) {
	for _, tt := range []struct {
		status    int
		wantRetry bool
	}{{500, true}, {429, true}, {400, false}, {403, false}} {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(&fakeSN{status: tt.status})
			defer srv.Close()
			retry, err := newSN(t, "url: "+srv.URL).Send(context.Background(), action.Message{Title: "t"})
			if err == nil || retry != tt.wantRetry {
				t.Fatalf("Send = %v, %v; want retry=%v", retry, err, tt.wantRetry)
			}
			noSecret(t, err, "sekret")
		})
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"no password", "user: admin\ninstance: acme", "user and password"},
		{"no instance", "user: admin\npassword: sekret", "instance is required"},
		{"instance with a dot", "user: admin\npassword: sekret\ninstance: acme.evil.com/x", "instance is required"},
		{"bad board", "user: admin\npassword: sekret\ninstance: acme\nboard: ../x", "not a table name"},
		{"unknown key", "user: admin\npassword: sekret\ninstance: acme\ntable: x", "unknown key"},
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
	a, err := New(testSpec(t, "user: admin\npassword: p\ninstance: acme"))
	if err != nil || a.(*ServiceNow).cfg.base != "https://acme.service-now.com" || a.(*ServiceNow).cfg.Board != "incident" {
		t.Errorf("defaults: %v", err)
	}
}
