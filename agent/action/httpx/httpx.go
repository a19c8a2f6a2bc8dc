// Package httpx holds what every HTTP-speaking action shares: a client with
// TLS verification on, and one place that decides whether a failed request is
// worth retrying. Errors never carry the request URL (it may hold a token).
package httpx

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

// DefaultTimeout bounds a request when the action sets none.
const DefaultTimeout = 30 * time.Second

// NewClient returns a client with the given timeout (DefaultTimeout if 0).
// TLS certificates are verified unless insecure is set explicitly. Each
// action makes one and keeps it: its transport keeps connections open for
// the next sends.
func NewClient(timeout time.Duration, insecure bool) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{Timeout: timeout, Transport: newTransport(insecure)}
}

// The connection pool of one action. An action talks to one host or two,
// and the executor bounds how many of its sends run at once; the default
// transport kept only 2 idle connections a host, so under load every other
// send dialed a new one and left a socket in TIME_WAIT.
const (
	maxIdlePerHost = 64
	maxIdle        = 128
	idleTimeout    = 90 * time.Second
	dialTimeout    = 10 * time.Second
	// drainLimit is how much of an answer past what Do reads is read off
	// so its connection can be reused; a longer answer closes it.
	drainLimit = 256 << 10
)

func newTransport(insecure bool) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxIdle,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       idleTimeout,
		TLSHandshakeTimeout:   dialTimeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}, //nolint:gosec // opt-in only
	}
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Code int
	Body string // first bytes of the response body
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("server answered %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("server answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Body)
}

// Do sends req and reads the answer. A 2xx answer returns its body (at most
// 1 MiB). retry is true for network errors, timeouts, 429 and 5xx.
func Do(ctx context.Context, c *http.Client, req *http.Request) (body []byte, retry bool, err error) {
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		return nil, transient(err), fmt.Errorf("%s %s: %w", req.Method, req.URL.Host, stripURL(err))
	}
	defer func() {
		// Read to the end, so that the connection goes back to the pool.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
		resp.Body.Close()
	}()
	body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return body, false, nil
	}
	se := &StatusError{Code: resp.StatusCode, Body: snippet(body, req.URL)}
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return body, retry, fmt.Errorf("%s %s: %w", req.Method, req.URL.Host, se)
}

// snippet returns the start of an error body for the error text. Servers
// often echo the request path ("Cannot POST /hook/<token>"), so the URL's
// path, query, token-like path segments and query values, and password are
// blanked out of it first.
func snippet(body []byte, u *url.URL) string {
	s := strings.ToValidUTF8(string(body), "")
	for _, secret := range urlSecrets(u) {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// urlSecrets lists the parts of u that may carry a token, longest first so
// that a whole path is replaced before its segments.
func urlSecrets(u *url.URL) []string {
	var out []string
	add := func(v string, minLen int) {
		if len(v) >= minLen {
			out = append(out, v)
		}
	}
	add(u.EscapedPath(), 2)
	add(u.Path, 2)
	add(u.RawQuery, 2)
	for _, seg := range strings.Split(u.Path, "/") {
		if tokenLike(seg) {
			add(seg, 1)
		}
	}
	for _, vals := range u.Query() {
		for _, v := range vals {
			if tokenLike(v) {
				add(v, 1)
			}
		}
	}
	if u.User != nil {
		p, _ := u.User.Password()
		add(p, 1)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// tokenLike tells a token ("T0A1B2C3D", a UUID) from a word of the API's
// path ("services", "IncomingWebhook"), which is kept so the error stays readable.
func tokenLike(s string) bool {
	return len(s) >= 16 || len(s) >= 8 && strings.ContainsAny(s, "0123456789")
}

// stripURL drops the *url.Error wrapper, whose text repeats the full URL.
func stripURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// transient looks beneath the *url.Error that every client error comes in:
// *url.Error itself implements net.Error, which made every failure, even
// a rejected certificate, look retryable.
func transient(err error) bool {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return action.NetworkTransient(err)
}

// PostJSON POSTs a JSON body to url through Do; header, if not nil, adds
// the action's own headers (authorization). A URL that does not make a
// request is a permanent failure, reported without the URL.
func PostJSON(ctx context.Context, c *http.Client, url string, body []byte, header func(h http.Header)) (answer []byte, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, false, fmt.Errorf("build request: %w", action.ErrPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	if header != nil {
		header(req.Header)
	}
	return Do(ctx, c, req)
}
