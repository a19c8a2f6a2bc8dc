package webhook

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/actiontest"
)

var msg = action.Message{Title: "t", Body: `{"text":"hello"}`, EventID: "e1", Route: "r1"}

func TestSend(t *testing.T) {
	tests := []struct {
		code      int
		wantErr   bool
		wantRetry bool
	}{
		{http.StatusOK, false, false},
		{http.StatusAccepted, false, false},
		{http.StatusBadRequest, true, false},
		{http.StatusForbidden, true, false},
		{http.StatusTooManyRequests, true, true},
		{http.StatusInternalServerError, true, true},
		{http.StatusServiceUnavailable, true, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			type seen struct{ method, ctype, body string }
			reqs := make(chan seen, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				reqs <- seen{r.Method, r.Header.Get("Content-Type"), string(b)}
				w.WriteHeader(tt.code)
			}))
			defer srv.Close()
			a, err := New(actiontest.Spec(t, "name: wh\ntype: webhook\nurl: "+srv.URL+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			retry, err := a.Send(context.Background(), msg)
			if (err != nil) != tt.wantErr || retry != tt.wantRetry {
				t.Fatalf("retry=%v err=%v", retry, err)
			}
			if err != nil && !strings.Contains(err.Error(), `action "wh"`) {
				t.Fatalf("error does not name the action: %v", err)
			}
			if got := <-reqs; got != (seen{http.MethodPost, "application/json", msg.Body}) {
				t.Fatalf("server saw %+v", got)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	a, err := New(actiontest.Spec(t, "name: wh\ntype: webhook\ntimeout: 100ms\nurl: "+srv.URL+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if retry, err := a.Send(context.Background(), msg); err == nil || !retry {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
}

func TestURLTokenNeverInErrors(t *testing.T) {
	const token = "whk-0123456789abcdef"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "no route for %s", r.URL.Path)
	}))
	defer srv.Close()
	spec := actiontest.SpecEnv(t, "name: wh\ntype: webhook\nurl: $WH\n", map[string]string{"WH": srv.URL + "/hooks/" + token})
	a, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Send(context.Background(), msg)
	if err == nil {
		t.Fatal("want an error")
	}
	actiontest.NoSecret(t, err, token)
}

func TestBadConfig(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"no url", "timeout: 5s\n", `action "wh": url is required`},
		{"not http", "url: mailto:x@y\n", `cfg.yaml:3: actions[0] "wh".url: must be an absolute http:// or https://`},
		{"unset variable", "timeout: 5s\nurl: ${NOPE}\n", `cfg.yaml:4: actions[0] "wh".url: environment variable NOPE is not set`},
		{"unparsable url", "url: \"http://h/%zz-S3CRET\"\n", `cfg.yaml:3: actions[0] "wh".url: not a valid URL`},
		{"unknown key", "url: http://h\nmethod: PUT\n", "method: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(actiontest.Spec(t, "name: wh\ntype: webhook\n"+tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			actiontest.NoSecret(t, err, "S3CRET")
		})
	}
}

// Every reference form gives the same URL (issue: `url: ${NAME}` was refused).
func TestURLReferences(t *testing.T) {
	seen := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r.URL.Path }))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "wh-url")
	if err := os.WriteFile(file, []byte(srv.URL+"/hooks/abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"$WH", "${WH}", "file:" + file, srv.URL + "/hooks/abc"} {
		t.Run(ref, func(t *testing.T) {
			a, err := New(actiontest.SpecEnv(t, "name: wh\ntype: webhook\nurl: "+ref+"\n", map[string]string{"WH": srv.URL + "/hooks/abc"}))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Send(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
			if got := <-seen; got != "/hooks/abc" {
				t.Fatalf("posted to %q", got)
			}
		})
	}
}
