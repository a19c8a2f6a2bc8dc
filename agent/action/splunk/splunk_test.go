package splunk

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
)

type fakeHEC struct {
	status int
	mu     sync.Mutex
	events []hecEvent // guarded by mu
}

func (f *fakeHEC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/services/collector" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Splunk sekret-hec" {
		http.Error(w, `{"text":"Invalid token","code":4}`, http.StatusForbidden)
		return
	}
	var ev hecEvent
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, `{"text":"Invalid data format","code":6}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
	if f.status != 0 {
		http.Error(w, `{"text":"Server is busy","code":9}`, f.status)
		return
	}
	w.Write([]byte(`{"text":"Success","code":0}`))
}

func newSplunk(t *testing.T, doc string) action.Action {
	t.Helper()
	t.Setenv("TEST_HEC_TOKEN", "sekret-hec")
	a, err := New(testSpec(t, "token: $TEST_HEC_TOKEN\n"+doc))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func TestSendEvent(t *testing.T) {
	scan, err := os.ReadFile("../../../testdata/events/image-scan.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		limit    string
		msg      action.Message
		wantKeys []string
		gone     []string
	}{
		{"scan report as is", "", action.Message{Body: string(scan)}, []string{"image", "resources"}, nil},
		{"scan report cut to the limit", "size-limit: 700", action.Message{Body: string(scan)}, []string{"image", "vulnerability_summary"}, []string{"resources"}},
		{"text body", "", action.Message{Title: "T", Body: "plain", URL: "https://aqua/1"}, []string{"title", "description", "url"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeHEC{}
			srv := httptest.NewServer(f)
			defer srv.Close()
			if retry, err := newSplunk(t, "url: "+srv.URL+"/\n"+tt.limit).Send(context.Background(), tt.msg); err != nil || retry {
				t.Fatalf("Send = %v, %v", retry, err)
			}
			ev := f.events[0]
			obj, _ := ev.Event.(map[string]any)
			if ev.SourceType != "_json" || obj == nil {
				t.Fatalf("event = %+v", ev)
			}
			for _, k := range tt.wantKeys {
				if _, ok := obj[k]; !ok {
					t.Errorf("event lacks %q", k)
				}
			}
			for _, k := range tt.gone {
				if _, ok := obj[k]; ok {
					t.Errorf("event still has %q", k)
				}
			}
		})
	}
}

func TestSendTooBigIsPermanent(t *testing.T) {
	srv := httptest.NewServer(&fakeHEC{})
	defer srv.Close()
	retry, err := newSplunk(t, "url: "+srv.URL+"\nsize-limit: 50").Send(context.Background(), action.Message{Body: `{"image":"` + strings.Repeat("a", 100) + `"}`})
	if err == nil || retry || !errors.Is(err, action.ErrPermanent) {
		t.Fatalf("Send = %v, %v; want a permanent error", retry, err)
	}
}

func TestSendStatus(t *testing.T) {
	for _, tt := range []struct {
		status    int
		wantRetry bool
	}{{503, true}, {500, true}, {400, false}} {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(&fakeHEC{status: tt.status})
			defer srv.Close()
			retry, err := newSplunk(t, "url: "+srv.URL+"/services/collector").Send(context.Background(), action.Message{Body: "{}"})
			if err == nil || retry != tt.wantRetry {
				t.Fatalf("Send = %v, %v; want retry=%v", retry, err, tt.wantRetry)
			}
			noSecret(t, err, "sekret")
		})
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"no url", "token: sekret", "url is required"},
		{"no token", "url: https://splunk:8088", "token is required"},
		{"negative limit", "url: https://splunk:8088\ntoken: sekret\nsize-limit: -1", "size-limit"},
		{"unknown key", "url: https://splunk:8088\ntoken: sekret\nindex: main", "unknown key"},
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
