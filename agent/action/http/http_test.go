package http

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/actiontest"
)

// seen is one request as the test server received it.
type seen struct {
	method string
	header nethttp.Header
	body   string
}

// server records requests and answers with code.
func server(t *testing.T, code int) (*httptest.Server, <-chan seen) {
	t.Helper()
	reqs := make(chan seen, 10)
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		b, _ := io.ReadAll(r.Body)
		reqs <- seen{r.Method, r.Header.Clone(), string(b)}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, reqs
}

func message(t *testing.T) action.Message {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "events", "image-scan.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var in any
	if err := dec.Decode(&in); err != nil {
		t.Fatal(err)
	}
	return action.Message{Title: "t", Body: "rendered\nbody", Event: raw, Input: in, EventID: "e1", Route: "r1"}
}

func build(t *testing.T, yamlText string, env map[string]string, prepare func(spec *action.Spec)) action.Action {
	t.Helper()
	spec := actiontest.SpecEnv(t, yamlText, env)
	if prepare != nil {
		prepare(&spec)
	}
	a, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSendRequest(t *testing.T) {
	tests := []struct {
		name       string
		yaml       string
		bodyFile   string
		wantMethod string
		wantBody   string
		wantHeader map[string][]string
	}{
		{"defaults: POST the rendered body", "", "", "POST", "rendered\nbody",
			map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}}},
		{"method and headers", "method: put\nheaders:\n  X-Many: [a, b]\n  X-One: single\n  Authorization: $AUTH\n", "",
			"PUT", "rendered\nbody", map[string][]string{"X-Many": {"a", "b"}, "X-One": {"single"}, "Authorization": {"Bearer tok"}}},
		{"body-content substituted", `body-content: '{"img": "event.input.image", "crit": event.input.vulnerability_summary.critical}'` + "\n", "",
			"POST", `{"img": "alpine:3.10", "crit": 2}`, map[string][]string{"Content-Type": {"application/json"}}},
		{"body-file substituted", "body-file: body.json\nheaders: {Content-Type: [application/vnd.x+json]}\n",
			`{"cve": "event.input.resources[1].vulnerabilities[0].name"}`, "POST", `{"cve": "CVE-2021-3711"}`,
			map[string][]string{"Content-Type": {"application/vnd.x+json"}}},
		{"GET still sends the body, as Postee did", "method: GET\nbody-content: 'image=event.input.image'\n", "",
			"GET", "image=alpine:3.10", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, reqs := server(t, nethttp.StatusOK)
			a := build(t, "name: h\ntype: http\nurl: "+srv.URL+"/hook\n"+tt.yaml, map[string]string{"AUTH": "Bearer tok"},
				func(spec *action.Spec) {
					if tt.bodyFile != "" {
						if err := os.WriteFile(filepath.Join(spec.BaseDir, "body.json"), []byte(tt.bodyFile), 0o600); err != nil {
							t.Fatal(err)
						}
					}
				})
			m := message(t)
			if retry, err := a.Send(context.Background(), m); err != nil || retry {
				t.Fatalf("retry=%v err=%v", retry, err)
			}
			got := <-reqs
			if got.method != tt.wantMethod || got.body != tt.wantBody {
				t.Fatalf("got %s %q, want %s %q", got.method, got.body, tt.wantMethod, tt.wantBody)
			}
			for k, want := range tt.wantHeader {
				if g := got.header.Values(k); strings.Join(g, ",") != strings.Join(want, ",") {
					t.Errorf("header %s = %q, want %q", k, g, want)
				}
			}
			if ev, _ := base64.StdEncoding.DecodeString(got.header.Get("Postee-Event")); string(ev) != m.Body {
				t.Errorf("Postee-Event = %q", ev)
			}
		})
	}
}

func TestRetryClassification(t *testing.T) {
	tests := []struct {
		code      int
		wantRetry bool
	}{
		{nethttp.StatusInternalServerError, true},
		{nethttp.StatusBadGateway, true},
		{nethttp.StatusTooManyRequests, true},
		{nethttp.StatusBadRequest, false},
		{nethttp.StatusUnauthorized, false},
		{nethttp.StatusNotFound, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			srv, _ := server(t, tt.code)
			a := build(t, "name: h\ntype: http\nurl: "+srv.URL+"\n", nil, nil)
			retry, err := a.Send(context.Background(), message(t))
			if err == nil || retry != tt.wantRetry || !strings.Contains(err.Error(), `action "h"`) {
				t.Fatalf("retry=%v err=%v", retry, err)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	a := build(t, "name: h\ntype: http\ntimeout: 100ms\nurl: "+srv.URL+"\n", nil, nil)
	retry, err := a.Send(context.Background(), message(t))
	if err == nil || !retry {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
}

func TestTLSVerification(t *testing.T) {
	srv := httptest.NewUnstartedServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()

	a := build(t, "name: h\ntype: http\nurl: "+srv.URL+"\n", nil, nil)
	retry, err := a.Send(context.Background(), message(t))
	if err == nil || retry || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("self-signed server accepted by default: retry=%v err=%v", retry, err)
	}

	a = build(t, "name: h\ntype: http\ninsecure-skip-verify: true\nurl: "+srv.URL+"\n", nil, nil)
	if _, err := a.Send(context.Background(), message(t)); err != nil {
		t.Fatalf("insecure-skip-verify: %v", err)
	}
}

func TestURLTokenNeverInErrors(t *testing.T) {
	const token = "T0KEN-abcdef123456"
	echo := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.WriteHeader(nethttp.StatusNotFound)
		fmt.Fprintf(w, "Cannot POST %s", r.URL.RequestURI())
	}))
	defer echo.Close()
	down := httptest.NewServer(nethttp.NotFoundHandler())
	downURL := down.URL
	down.Close()

	tests := []struct {
		name, url string
	}{
		{"echoed in a 404 body", echo.URL + "/services/" + token},
		{"in the query", echo.URL + "/hook?token=" + token},
		{"connection refused", downURL + "/services/" + token},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := actiontest.SpecEnv(t, "name: h\ntype: http\nurl: $HOOK_URL\n", map[string]string{"HOOK_URL": tt.url})
			log, logs := actiontest.Logger()
			spec.Logger = log
			a, err := New(spec)
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Send(context.Background(), message(t))
			if err == nil {
				t.Fatal("want an error")
			}
			actiontest.NoSecret(t, err, token)
			actiontest.NoSecret(t, logs, token)
		})
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"no url", "method: POST\n", `action "h": url is required`},
		{"relative url", "url: /hook\n", "absolute http:// or https://"},
		{"ftp url", "url: ftp://host/x\n", "absolute http:// or https://"},
		{"unparsable url keeps its token out", "url: \"http://host/%zz-S3CRET\"\n", `cfg.yaml:3: actions[0] "h".url: not a valid URL`},
		{"unset secret", "url: $NOPE\n", "NOPE is not set"},
		{"unset braced secret", "url: http://h\nheaders:\n  Authorization: ${NOPE}\n", `cfg.yaml:5: actions[0] "h".headers.Authorization[0]: environment variable NOPE is not set`},
		{"bad method", "url: http://h\nmethod: FETCH\n", `method "FETCH" is not an HTTP method`},
		{"both bodies", "url: http://h\nbody-content: x\nbody-file: y\n", "body-content and body-file are exclusive"},
		{"missing body-file", "url: http://h\nbody-file: nope.json\n", "body-file: open"},
		{"bad header name", "url: http://h\nheaders: {\"Bad Name\": [x]}\n", "not a valid header name"},
		{"header line break", "url: http://h\nheaders: {X-A: [\"a\\nb\"]}\n", "line break"},
		{"tls-verify is not our key", "url: http://h\ntls-verify: false\n", "tls-verify: unknown key"},
		{"bad timeout", "url: http://h\ntimeout: later\n", `"h".timeout`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(actiontest.Spec(t, "name: h\ntype: http\n"+tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			actiontest.NoSecret(t, err, "S3CRET")
		})
	}
}

func TestLargeBodyLeavesOutEventHeader(t *testing.T) {
	srv, reqs := server(t, nethttp.StatusOK)
	a := build(t, "name: h\ntype: http\nurl: "+srv.URL+"\n", nil, nil)
	m := message(t)
	m.Body = strings.Repeat("x", 64<<10)
	if _, err := a.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := <-reqs
	if got.header.Get("Postee-Event") != "" || len(got.body) != 64<<10 {
		t.Fatalf("header %d bytes, body %d bytes", len(got.header.Get("Postee-Event")), len(got.body))
	}
}

// The header's limit holds at its edge: the longest message that fits is
// sent in it, one byte more is not.
func TestEventHeaderLimitEdge(t *testing.T) {
	srv, reqs := server(t, nethttp.StatusOK)
	a := build(t, "name: h\ntype: http\nurl: "+srv.URL+"\n", nil, nil)
	fits := maxEventHeader / 4 * 3
	for n, want := range map[int]bool{fits: true, fits + 1: false} {
		m := message(t)
		m.Body = strings.Repeat("x", n)
		if _, err := a.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		got := <-reqs
		if has := got.header.Get("Postee-Event") != ""; has != want || len(got.body) != n {
			t.Errorf("%d-byte message: header %v, body %d bytes", n, has, len(got.body))
		}
	}
}

func TestContentType(t *testing.T) {
	for body, want := range map[string]string{
		" {\"a\": 1}\n": "application/json", "[1]": "application/json", "{": "text/plain; charset=utf-8",
		"": "text/plain; charset=utf-8", "\t \r\n": "text/plain; charset=utf-8", "{x]": "text/plain; charset=utf-8", "plain": "text/plain; charset=utf-8",
	} {
		if got := contentType(body); got != want || contentType([]byte(body)) != want {
			t.Errorf("contentType(%q) = %q, want %q", body, got, want)
		}
	}
}

// `url: ${NAME}` works as `url: $NAME` does (it was refused as not a URL).
func TestURLReferenceForms(t *testing.T) {
	for _, ref := range []string{"$HOOK", "${HOOK}"} {
		t.Run(ref, func(t *testing.T) {
			srv, reqs := server(t, nethttp.StatusOK)
			a := build(t, "name: h\ntype: http\nurl: "+ref+"\n", map[string]string{"HOOK": srv.URL + "/in"}, nil)
			if _, err := a.Send(context.Background(), message(t)); err != nil {
				t.Fatal(err)
			}
			if got := <-reqs; got.method != "POST" {
				t.Fatalf("got %+v", got)
			}
		})
	}
}
