package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServer(t *testing.T) {
	notReady := errors.New("no config yet")
	s, err := Listen("127.0.0.1:0", Options{
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "x_total 1\n") }),
		Healthy: func() error { return nil },
		Ready:   func() error { return notReady },
		Handlers: map[string]http.Handler{"GET /runners": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "[]")
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	base := "http://" + s.Addr()
	for _, c := range []struct {
		path string
		code int
		body string
	}{
		{"/metrics", 200, "x_total 1"},
		{"/healthz", 200, "ok"},
		{"/readyz", 503, "no config yet"},
		{"/runners", 200, "[]"},
		{"/nothing", 404, ""},
	} {
		code, body := get(t, base+c.path)
		if code != c.code || !strings.Contains(body, c.body) {
			t.Errorf("%s: %d %q, want %d with %q", c.path, code, body, c.code, c.body)
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func TestOff(t *testing.T) {
	s, err := Listen("", Options{})
	if s != nil || err != nil {
		t.Fatalf("Listen(\"\") = %v, %v; want nil, nil", s, err)
	}
}
