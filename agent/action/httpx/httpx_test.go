package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestDoStatus(t *testing.T) {
	tests := []struct {
		code      int
		wantErr   bool
		wantRetry bool
	}{
		{http.StatusOK, false, false},
		{http.StatusNoContent, false, false},
		{http.StatusBadRequest, true, false},
		{http.StatusNotFound, true, false},
		{http.StatusTooManyRequests, true, true},
		{http.StatusInternalServerError, true, true},
		{http.StatusServiceUnavailable, true, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.code)
				fmt.Fprint(w, "answer")
			}))
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
			body, retry, err := Do(context.Background(), NewClient(time.Second, false), req)
			if (err != nil) != tt.wantErr || retry != tt.wantRetry {
				t.Fatalf("err=%v retry=%v, want err=%v retry=%v", err, retry, tt.wantErr, tt.wantRetry)
			}
			var se *StatusError
			if tt.wantErr && (!errors.As(err, &se) || se.Code != tt.code || se.Body != "answer") {
				t.Fatalf("error %v is not a StatusError with code and body", err)
			}
			if tt.code == http.StatusOK && string(body) != "answer" {
				t.Fatalf("body = %q", body)
			}
		})
	}
}

func TestDoNetworkErrors(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	defer slow.Close()
	defer close(hang)

	tls := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tls.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tls.StartTLS()
	defer tls.Close()

	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	// Only the timeout case has a short timeout: a TLS handshake on a
	// loaded machine can take longer than 100 ms.
	const short, long = 100 * time.Millisecond, 10 * time.Second
	tests := []struct {
		name      string
		url       string
		ctx       context.Context
		timeout   time.Duration
		insecure  bool
		wantErr   bool
		wantRetry bool
	}{
		{"connection refused", closedURL, context.Background(), long, false, true, true},
		{"timeout", slow.URL, context.Background(), short, false, true, true},
		{"canceled", slow.URL, canceled, long, false, true, false},
		{"self-signed refused", tls.URL, context.Background(), long, false, true, false},
		{"self-signed allowed when insecure", tls.URL, context.Background(), long, true, false, false},
		{"bad scheme", "ftp://example.invalid/x", context.Background(), long, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, retry, err := Do(tt.ctx, NewClient(tt.timeout, tt.insecure), req)
			if (err != nil) != tt.wantErr || retry != tt.wantRetry {
				t.Fatalf("err=%v retry=%v, want err=%v retry=%v", err, retry, tt.wantErr, tt.wantRetry)
			}
		})
	}
}

func TestDoKeepsURLOutOfErrors(t *testing.T) {
	const token = "s3cr3t-t0ken-value"
	tests := []struct {
		name string
		path string
	}{
		{"path token", "/hook/" + token},
		{"query token", "/hook?token=" + token},
		{"userinfo", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// Like many frameworks' 404 pages, echo what was asked for.
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprintf(w, "Cannot POST %s (%s)", r.URL.RequestURI(), r.Header.Get("Authorization"))
			}))
			defer srv.Close()
			u := srv.URL + tt.path
			if tt.path == "" {
				u = strings.Replace(srv.URL, "http://", "http://user:"+token+"@", 1)
			}
			req, _ := http.NewRequest(http.MethodPost, u, nil)
			_, _, err := Do(context.Background(), NewClient(time.Second, false), req)
			if err == nil {
				t.Fatal("want an error")
			}
			if strings.Contains(err.Error(), token) {
				t.Fatalf("error leaks the token: %v", err)
			}

			srv.Close() // now a network error, whose text used to carry the URL
			_, _, err = Do(context.Background(), NewClient(time.Second, false), req)
			if err == nil || strings.Contains(err.Error(), token) {
				t.Fatalf("network error leaks the token or is nil: %v", err)
			}
		})
	}
}

func TestSnippetTruncatesOnRuneBoundary(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://h/", nil)
	s := snippet([]byte(strings.Repeat("é", 300)), req.URL)
	if !strings.HasSuffix(s, "…") || len([]rune(s)) != 201 {
		t.Fatalf("snippet = %q (%d runes)", s, len([]rune(s)))
	}
}

func TestURLSecretsSparesAPIWords(t *testing.T) {
	u, _ := url.Parse("https://h/services/T0A1B2C3D/B0123ABCD/abcdefghijklmnopqrstuvwx?x=plain&token=abcdefghijklmnopq")
	got := map[string]bool{}
	for _, s := range urlSecrets(u) {
		got[s] = true
	}
	for _, want := range []string{"T0A1B2C3D", "B0123ABCD", "abcdefghijklmnopqrstuvwx", "abcdefghijklmnopq"} {
		if !got[want] {
			t.Errorf("%q not redacted", want)
		}
	}
	for _, keep := range []string{"services", "plain"} {
		if got[keep] {
			t.Errorf("%q redacted", keep)
		}
	}
}
