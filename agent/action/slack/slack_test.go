package slack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
)

// recorder is a fake Slack webhook that keeps every body it receives.
type recorder struct {
	mu     sync.Mutex
	bodies []payload // guarded by mu
	status int
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/services/T0/B0/sekret" ||
		req.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request shape", http.StatusBadRequest)
		return
	}
	var p payload
	b, _ := io.ReadAll(req.Body)
	if err := json.Unmarshal(b, &p); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.bodies = append(r.bodies, p)
	r.mu.Unlock()
	if r.status != 0 {
		http.Error(w, "nope", r.status)
		return
	}
	io.WriteString(w, "ok")
}

func newSlack(t *testing.T, srv *httptest.Server) action.Action {
	t.Helper()
	t.Setenv("TEST_SLACK_URL", srv.URL+"/services/T0/B0/sekret")
	a, err := New(testSpec(t, "url: $TEST_SLACK_URL"))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func TestSendShapes(t *testing.T) {
	many := strings.Repeat(`{"type":"divider"},`, 60)
	tests := []struct {
		name       string
		msg        action.Message
		wantParts  int
		wantBlocks []int // blocks per part, title included
		wantText   string
	}{
		{"plain text", action.Message{Title: "Scan <alpine>", Body: "2 critical & 1 high", URL: "https://aqua/x"},
			1, []int{0}, "*Scan &lt;alpine&gt;*\n2 critical &amp; 1 high\nhttps://aqua/x"},
		{"block array", action.Message{Title: "T", Body: `[{"type":"section","text":{"type":"mrkdwn","text":"a<b"}}]`},
			1, []int{2}, "T"},
		{"postee block list with trailing comma", action.Message{Title: "T", Body: `{"type":"divider"},{"type":"divider"},`},
			1, []int{3}, "T"},
		{"split over the block limit", action.Message{Title: "T", Body: many}, 2, []int{50, 12}, "T"},
		{"blocks without a title", action.Message{Body: many}, 2, []int{50, 10}, ""},
		{"json that is not blocks", action.Message{Title: "T", Body: `[1,2]`}, 1, []int{0}, "*T*\n[1,2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			retry, err := newSlack(t, srv).Send(context.Background(), tt.msg)
			if err != nil || retry {
				t.Fatalf("Send = %v, %v", retry, err)
			}
			if len(rec.bodies) != tt.wantParts {
				t.Fatalf("got %d webhook calls, want %d", len(rec.bodies), tt.wantParts)
			}
			for i, p := range rec.bodies {
				if len(p.Blocks) != tt.wantBlocks[i] {
					t.Errorf("part %d: %d blocks, want %d", i, len(p.Blocks), tt.wantBlocks[i])
				}
				if p.Text != tt.wantText {
					t.Errorf("part %d: text %q, want %q", i, p.Text, tt.wantText)
				}
			}
			if tt.wantBlocks[0] > 0 && tt.msg.Title != "" {
				if got := string(rec.bodies[0].Blocks[0]); !strings.Contains(got, `"*T*"`) {
					t.Errorf("first block is not the title: %s", got)
				}
			}
		})
	}
}

func TestSendEscapesInsideBlocks(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	body := `[{"type":"section","text":{"type":"mrkdwn","text":"a<b"}}]`
	if _, err := newSlack(t, srv).Send(context.Background(), action.Message{Title: "T", Body: body}); err != nil {
		t.Fatal(err)
	}
	if got := string(rec.bodies[0].Blocks[1]); !strings.Contains(got, "a&lt;b") {
		t.Errorf("block text not escaped as Postee does: %s", got)
	}
}

func TestSendStatusRetry(t *testing.T) {
	tests := []struct {
		status    int
		wantRetry bool
	}{
		{http.StatusInternalServerError, true},
		{http.StatusServiceUnavailable, true},
		{http.StatusTooManyRequests, true},
		{http.StatusNotFound, false},
		{http.StatusBadRequest, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(&recorder{status: tt.status})
			defer srv.Close()
			retry, err := newSlack(t, srv).Send(context.Background(), action.Message{Title: "t", Body: "b"})
			if err == nil {
				t.Fatal("Send succeeded against a failing server")
			}
			if retry != tt.wantRetry {
				t.Errorf("retry = %v, want %v (err %v)", retry, tt.wantRetry, err)
			}
			noSecret(t, err, "sekret")
			if !strings.Contains(err.Error(), "test-action") {
				t.Errorf("error does not name the action: %v", err)
			}
		})
	}
}

func TestSendUnreachableIsRetried(t *testing.T) {
	srv := httptest.NewServer(&recorder{})
	a := newSlack(t, srv)
	srv.Close()
	retry, err := a.Send(context.Background(), action.Message{Title: "t", Body: "b"})
	if err == nil || !retry {
		t.Fatalf("Send to a closed server = %v, %v; want retry and an error", retry, err)
	}
	noSecret(t, err, "sekret")
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Setenv("TEST_SLACK_BAD", "hooks.slack.com/services/sekret")
	tests := []struct {
		name, doc, want string
	}{
		{"missing url", "", "url is required"},
		{"unknown key", "url: https://x\nchannel: '#a'", "unknown key"},
		{"not a url", "url: $TEST_SLACK_BAD", "absolute http:// or https:// URL"},
		{"unset variable", "url: $TEST_SLACK_UNSET", "TEST_SLACK_UNSET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(testSpec(t, tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want it to mention %q", err, tt.want)
			}
			noSecret(t, err, "sekret")
		})
	}
}
