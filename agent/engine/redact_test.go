package engine

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	_ "github.com/postee-fleet/posteed/agent/action/splunk"
)

// A server that echoes the Authorization header in its 401 body: the token
// is neither logged nor in the error Send returns (which a runner ships to
// the controller).
func TestSendRedactsSecretsFromErrors(t *testing.T) {
	const token = "hec-token-5f1e8a2c"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad credentials: "+r.Header.Get("Authorization"), http.StatusUnauthorized)
	}))
	defer srv.Close()
	cfg := load(t, t.TempDir(), `routes:
- name: r
  actions: [splunk]
  template: t
templates:
- name: t
  rego-package: postee.rawmessage.json
actions:
- name: splunk
  type: splunk
  enable: true
  url: `+srv.URL+`
  token: $HEC_TOKEN
`, nil)
	var logs bytes.Buffer
	e, err := New(context.Background(), cfg, Options{
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		LookupEnv: func(n string) (string, bool) { return token, n == "HEC_TOKEN" },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	err = e.Send(context.Background(), action.Message{Title: "t", Body: "b", Route: "r"}, "splunk")
	if err == nil {
		t.Fatal("the 401 was not an error")
	}
	if !strings.Contains(logs.String(), "bad credentials") || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Fatalf("the echo is not in the error or log:\nerror: %v\nlog: %s", err, logs.String())
	}
	for what, text := range map[string]string{"error": err.Error(), "log": logs.String()} {
		if strings.Contains(text, token) {
			t.Errorf("%s has the token: %s", what, text)
		}
	}
}
