package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	_ "github.com/postee-fleet/posteed/agent/action/exec"
	_ "github.com/postee-fleet/posteed/agent/action/http"
	_ "github.com/postee-fleet/posteed/agent/action/jira"
	_ "github.com/postee-fleet/posteed/agent/action/nexusiq"
	_ "github.com/postee-fleet/posteed/agent/action/servicenow"
	_ "github.com/postee-fleet/posteed/agent/action/splunk"
)

// echoServer answers 401 with the request's credentials in the body, as
// servers that echo what they refused do.
func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad credentials: "+r.Header.Get("Authorization")+" "+r.Header.Get("X-Api-Key"), http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A server that echoes the credentials in its 401 body, or a script that
// prints its token: the secret is neither logged nor in the error Send
// returns (which a runner ships to the controller), in any form: as
// configured, Base64 inside a Basic header, or without its scheme word.
func TestSendRedactsSecretsFromErrorsAndLogs(t *testing.T) {
	basic := func(user, pw string) string { return base64.StdEncoding.EncodeToString([]byte(user + ":" + pw)) }
	tests := []struct {
		name    string
		action  string // the action's type-specific keys; URL is the echo server
		env     map[string]string
		secrets []string // none of these may show
		echoed  string   // what shows the echo did happen
	}{
		{"splunk token from $NAME", "type: splunk\nurl: URL\ntoken: $HEC_TOKEN\n",
			map[string]string{"HEC_TOKEN": "hec-token-5f1e8a2c"}, []string{"hec-token-5f1e8a2c"}, "bad credentials"},
		{"serviceNow basic auth", "type: serviceNow\nurl: URL\nuser: admin\npassword: ${SN_PW}\n",
			map[string]string{"SN_PW": "sn-pass-5f1e8a2c"}, []string{"sn-pass-5f1e8a2c", basic("admin", "sn-pass-5f1e8a2c")}, "bad credentials: [REDACTED]"},
		{"nexusIq basic auth, literal password", "type: nexusIq\nurl: URL\nuser: admin\npassword: nx-pass-5f1e8a2c\norganization-id: o\n",
			nil, []string{"nx-pass-5f1e8a2c", basic("admin", "nx-pass-5f1e8a2c")}, "bad credentials: [REDACTED]"},
		{"jira password from the environment", "type: jira\nurl: URL\nuser: me@example.com\npassword: $JIRA_PW\nproject-key: S\n",
			map[string]string{"JIRA_PW": "jira-api-token-5f1e8a2c"}, []string{"jira-api-token-5f1e8a2c", basic("me@example.com", "jira-api-token-5f1e8a2c")}, "bad credentials: [REDACTED]"},
		{"http literal Authorization header", "type: http\nurl: URL\nheaders:\n  Authorization: Bearer http-tok-5f1e8a2c\n",
			nil, []string{"http-tok-5f1e8a2c"}, "bad credentials: [REDACTED]"},
		{"http literal api key header", "type: http\nurl: URL\nheaders:\n  X-Api-Key: [key-5f1e8a2c]\n",
			nil, []string{"key-5f1e8a2c"}, "bad credentials:"},
		{"exec output", "type: exec\nenv: [\"TOKEN=$API_TOKEN\"]\nexec-script: 'echo token is $TOKEN; exit 1'\n",
			map[string]string{"API_TOKEN": "exec-tok-5f1e8a2c"}, []string{"exec-tok-5f1e8a2c"}, "token is [REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := echoServer(t)
			cfg := load(t, t.TempDir(), `routes:
- name: r
  actions: [a]
  template: t
templates:
- name: t
  rego-package: postee.rawmessage.json
actions:
- name: a
  enable: true
  `+strings.ReplaceAll(strings.ReplaceAll(tt.action, "URL", srv.URL), "\n", "\n  "), nil)
			var logs bytes.Buffer
			e, err := New(context.Background(), cfg, Options{
				Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
				LookupEnv: func(n string) (string, bool) { v, ok := tt.env[n]; return v, ok },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			err = e.Send(context.Background(), action.Message{Title: "img:1", Body: "<bom/>", Route: "r"}, "a")
			if err == nil {
				t.Fatal("the refusal was not an error")
			}
			if all := err.Error() + logs.String(); !strings.Contains(all, tt.echoed) {
				t.Fatalf("the echo %q is not in the error or log:\nerror: %v\nlog: %s", tt.echoed, err, logs.String())
			}
			for _, s := range tt.secrets {
				for what, text := range map[string]string{"error": err.Error(), "log": logs.String()} {
					if strings.Contains(text, s) || strings.Contains(text, url.QueryEscape(s)) {
						t.Errorf("%s has %q: %s", what, s, text)
					}
				}
			}
		})
	}
}

// What an action logs itself goes through the redactor: the message,
// attributes given to the call or to With, inside groups, and errors.
func TestActionLogsAreRedacted(t *testing.T) {
	var r redactor
	r.add("Basic " + base64.StdEncoding.EncodeToString([]byte("u:pw-5f1e8a2c")))
	var out bytes.Buffer
	log := slog.New(r.handler(slog.NewJSONHandler(&out, nil))).With("with", "x pw-5f1e8a2c")
	log.Warn("saw pw-5f1e8a2c", "s", "u:pw-5f1e8a2c", slog.Group("g", "inner", "pw-5f1e8a2c"),
		"error", errors.New("echo pw-5f1e8a2c"), "n", 42, "list", []string{"pw-5f1e8a2c"})
	got := out.String()
	if strings.Contains(got, "pw-5f1e8a2c") || strings.Count(got, "[REDACTED]") != 6 || !strings.Contains(got, `"n":42`) {
		t.Fatalf("log line: %s", got)
	}
}
