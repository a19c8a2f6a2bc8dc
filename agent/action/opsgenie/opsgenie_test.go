package opsgenie

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

type fakeOpsgenie struct {
	status int
	mu     sync.Mutex
	alerts []map[string]any // guarded by mu
}

func (f *fakeOpsgenie) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v2/alerts" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != "GenieKey sekret-key" {
		http.Error(w, `{"message":"Key format is not valid!"}`, http.StatusUnauthorized)
		return
	}
	var a map[string]any
	if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.alerts = append(f.alerts, a)
	f.mu.Unlock()
	if f.status != 0 {
		http.Error(w, `{"message":"error"}`, f.status)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte(`{"result":"Request will be processed","requestId":"1"}`))
}

func newOpsgenie(t *testing.T, doc string) action.Action {
	t.Helper()
	t.Setenv("TEST_OPSGENIE_TOKEN", "sekret-key")
	a, err := New(testSpec(t, "token: $TEST_OPSGENIE_TOKEN\n"+doc))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestSendAlert(t *testing.T) {
	cfg := "user: postee\nassignee: [alice]\nrecipients: [bob]\ntags: [trivy]\nalias: a1\nentity: host1\npriority: P2\n"
	tests := []struct {
		name string
		msg  action.Message
		want map[string]string
	}{
		{"text body", action.Message{Title: "Scan alpine", Body: "2 critical", URL: "https://aqua/1"}, map[string]string{
			"message": `"Scan alpine"`, "description": `"2 critical"`, "priority": `"P2"`, "alias": `"a1"`,
			"entity": `"host1"`, "user": `"postee"`, "tags": `["trivy"]`,
			"responders": `[{"type":"user","username":"alice"}]`, "visibleTo": `[{"type":"user","username":"bob"}]`,
			"details": `{"url":"https://aqua/1"}`,
		}},
		{"json body overrides", action.Message{Title: strings.Repeat("x", 200), Body: `{"description":"d","alias":"a2","priority":"P1","tags":"one,two"}`},
			map[string]string{"message": jsonOf(strings.Repeat("x", 129) + "…"), "description": `"d"`, "alias": `"a2"`,
				"priority": `"P1"`, "tags": `["trivy","one","two"]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeOpsgenie{}
			srv := httptest.NewServer(f)
			defer srv.Close()
			if retry, err := newOpsgenie(t, cfg+"url: "+srv.URL).Send(context.Background(), tt.msg); err != nil || retry {
				t.Fatalf("Send = %v, %v", retry, err)
			}
			for k, v := range tt.want {
				if got := jsonOf(f.alerts[0][k]); got != v {
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
	}{{503, true}, {429, true}, {422, false}, {403, false}} {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(&fakeOpsgenie{status: tt.status})
			defer srv.Close()
			retry, err := newOpsgenie(t, "url: "+srv.URL).Send(context.Background(), action.Message{Title: "t"})
			if err == nil || retry != tt.wantRetry {
				t.Fatalf("Send = %v, %v; want retry=%v", retry, err, tt.wantRetry)
			}
			noSecret(t, err, "sekret")
		})
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"no token", "user: x", "token is required"},
		{"bad priority", "token: sekret\npriority: high", `priority "high"`},
		{"bad url", "token: sekret\nurl: api.eu.opsgenie.com", `cfg.yaml:4: actions[0] "test-action".url: must be an absolute http:// or https:// URL`},
		{"unknown key", "token: sekret\nteam: ops", "unknown key"},
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
	a, err := New(testSpec(t, "token: k"))
	if err != nil || a.(*Opsgenie).cfg.base != DefaultURL || a.(*Opsgenie).cfg.Priority != "P3" {
		t.Errorf("defaults: %+v, %v", a, err)
	}
}
