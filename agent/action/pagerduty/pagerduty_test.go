package pagerduty

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

type event struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     struct {
		Summary   string          `json:"summary"`
		Source    string          `json:"source"`
		Severity  string          `json:"severity"`
		Timestamp string          `json:"timestamp"`
		Details   json.RawMessage `json:"custom_details"`
	} `json:"payload"`
	Links []struct{ Href string } `json:"links"`
}

func fakePD(t *testing.T, status int, got *[]event) *httptest.Server {
	var mu sync.Mutex // guards *got against the handler goroutines
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request shape", http.StatusNotFound)
			return
		}
		var ev event
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, `{"status":"invalid event"}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		*got = append(*got, ev)
		mu.Unlock()
		if status != 0 {
			http.Error(w, `{"status":"error"}`, status)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"status":"success","dedup_key":"x"}`))
	}))
}

func newPD(t *testing.T, url string) *PagerDuty {
	t.Helper()
	t.Setenv("TEST_PD_KEY", "sekret-routing-key")
	a, err := New(testSpec(t, "pagerduty-routing-key: $TEST_PD_KEY\nurl: "+url+"/v2/enqueue"))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	p := a.(*PagerDuty)
	p.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	return p
}

func TestSendTriggers(t *testing.T) {
	tests := []struct {
		name        string
		msg         action.Message
		wantSummary string
		wantDetails string
		wantDedup   string
	}{
		{"text body", action.Message{Title: "Scan\nalpine", Body: "2 critical", URL: "https://aqua/1", EventID: "e1", Route: "r"},
			"Scan alpine", `"2 critical"`, "r/e1"},
		{"json body", action.Message{Title: "T", Body: `{"image":"alpine"}`}, "T", `{"image":"alpine"}`, ""},
		{"no title", action.Message{Body: "b"}, "Postee event", `"b"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []event
			srv := fakePD(t, 0, &got)
			defer srv.Close()
			if retry, err := newPD(t, srv.URL).Send(context.Background(), tt.msg); err != nil || retry {
				t.Fatalf("Send = %v, %v", retry, err)
			}
			ev := got[0]
			if ev.RoutingKey != "sekret-routing-key" || ev.EventAction != "trigger" || ev.DedupKey != tt.wantDedup {
				t.Errorf("envelope = %+v", ev)
			}
			pl := ev.Payload
			if pl.Summary != tt.wantSummary || pl.Severity != "critical" || pl.Source != "postee" || pl.Timestamp != "2026-01-02T03:04:05Z" {
				t.Errorf("payload = %+v", pl)
			}
			if string(pl.Details) != tt.wantDetails {
				t.Errorf("custom_details = %s, want %s", pl.Details, tt.wantDetails)
			}
			if tt.msg.URL != "" && (len(ev.Links) != 1 || ev.Links[0].Href != tt.msg.URL) {
				t.Errorf("links = %+v", ev.Links)
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
			var got []event
			srv := fakePD(t, tt.status, &got)
			defer srv.Close()
			retry, err := newPD(t, srv.URL).Send(context.Background(), action.Message{Title: "t"})
			if err == nil || retry != tt.wantRetry {
				t.Fatalf("Send = %v, %v; want retry=%v", retry, err, tt.wantRetry)
			}
			noSecret(t, err, "sekret")
		})
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"no routing key", "url: https://events.example.com/v2/enqueue", "pagerduty-routing-key is required"},
		{"bad url", "pagerduty-routing-key: sekret\nurl: events.example.com", `cfg.yaml:4: actions[0] "test-action".url: must be an absolute http:// or https:// URL`},
		{"unknown key", "pagerduty-routing-key: sekret\nseverity: low", "unknown key"},
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
	a, err := New(testSpec(t, "pagerduty-routing-key: k"))
	if err != nil || a.(*PagerDuty).cfg.endpoint != DefaultURL {
		t.Errorf("default endpoint: %v, %v", a, err)
	}
}
