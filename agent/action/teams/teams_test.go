package teams

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

// fakeTeams is a webhook that records cards and answers as told.
type fakeTeams struct {
	mu     sync.Mutex
	cards  []map[string]any // guarded by mu
	status int
	answer string
}

func (f *fakeTeams) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/webhookb2/sekret" || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request shape", http.StatusBadRequest)
		return
	}
	var card map[string]any
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &card); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.cards = append(f.cards, card)
	f.mu.Unlock()
	if f.status != 0 {
		w.WriteHeader(f.status)
	}
	io.WriteString(w, f.answer)
}

func newTeams(t *testing.T, typ string, srv *httptest.Server) action.Action {
	t.Helper()
	t.Setenv("TEST_TEAMS_URL", srv.URL+"/webhookb2/sekret")
	spec := testSpec(t, "url: $TEST_TEAMS_URL")
	spec.Type = typ
	a, err := New(spec)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func TestSendMessageCard(t *testing.T) {
	tests := []struct {
		name     string
		msg      action.Message
		wantText []string
	}{
		{"html body", action.Message{Title: "Scan <x>", Body: "<p>2 <b>critical</b></p>"},
			[]string{"<h2>Scan &lt;x&gt;</h2>", "<p>2 <b>critical</b></p>"}},
		{"too big with url", action.Message{Title: "T", Body: strings.Repeat("x", maxBody+1), URL: "https://aqua/scan/1"},
			[]string{"too large for Teams", `href="https://aqua/scan/1"`}},
		{"too big without url", action.Message{Title: "T", Body: strings.Repeat("x", maxBody+1)},
			[]string{"(truncated)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTeams{answer: "1"}
			srv := httptest.NewServer(f)
			defer srv.Close()
			if retry, err := newTeams(t, "teams", srv).Send(context.Background(), tt.msg); err != nil || retry {
				t.Fatalf("Send = %v, %v", retry, err)
			}
			card := f.cards[0]
			if card["@type"] != "MessageCard" || card["summary"] != tt.msg.Title {
				t.Errorf("card header = %v / %v", card["@type"], card["summary"])
			}
			text, _ := card["text"].(string)
			for _, w := range tt.wantText {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q: %.200s", w, text)
				}
			}
			if len(text) > maxBody+1000 {
				t.Errorf("text is %d bytes, over the Teams limit", len(text))
			}
		})
	}
}

func TestSendAdaptiveCard(t *testing.T) {
	f := &fakeTeams{status: http.StatusAccepted}
	srv := httptest.NewServer(f)
	defer srv.Close()
	msg := action.Message{Title: "Scan", Body: "<h3>alpine</h3><ul><li>CVE-1 &amp; more</li></ul>"}
	if _, err := newTeams(t, "teamsworkflows", srv).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(f.cards[0])
	var got struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type string `json:"type"`
				Body []struct {
					Text string `json:"text"`
				} `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "message" || len(got.Attachments) != 1 || got.Attachments[0].Content.Type != "AdaptiveCard" {
		t.Fatalf("not an adaptive card message: %s", b)
	}
	body := got.Attachments[0].Content.Body
	if len(body) != 2 || body[0].Text != "Scan" || body[1].Text != "### alpine\n- CVE-1 & more" {
		t.Errorf("card body = %+v", body)
	}
}

func TestSendFailures(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		answer    string
		wantRetry bool
	}{
		{"server error", http.StatusBadGateway, "", true},
		{"bad request", http.StatusBadRequest, "Summary or Text is required", false},
		{"throttled inside a 200", 0, "Microsoft Teams endpoint returned HTTP error 429", true},
		{"refused inside a 200", 0, "Webhook message delivery failed with error: bad card", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&fakeTeams{status: tt.status, answer: tt.answer})
			defer srv.Close()
			retry, err := newTeams(t, "teams", srv).Send(context.Background(), action.Message{Title: "t", Body: "b"})
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if retry != tt.wantRetry {
				t.Errorf("retry = %v, want %v (%v)", retry, tt.wantRetry, err)
			}
			noSecret(t, err, "sekret")
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Setenv("TEST_TEAMS_BAD", "outlook.office.com/webhook/sekret")
	tests := []struct{ name, doc, want string }{
		{"missing url", "", `teams action "test-action": url is required`},
		{"unknown key", "url: https://x\ncolor: red", "unknown key"},
		{"not a url", "url: $TEST_TEAMS_BAD", "absolute http:// or https:// URL"},
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

func TestRegistered(t *testing.T) {
	for _, typ := range []string{"teams", "teamsworkflows"} {
		if _, ok := action.Default.Lookup(typ); !ok {
			t.Errorf("type %q is not registered", typ)
		}
	}
}
