// Package httpx holds what every HTTP-speaking action shares: a client with
// TLS verification on, and one place that decides whether a failed request is
// worth retrying. Errors never carry the request URL (it may hold a token).
package httpx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// DefaultTimeout bounds a request when the action sets none.
const DefaultTimeout = 30 * time.Second

// NewClient returns a client with the given timeout (DefaultTimeout if 0).
// TLS certificates are verified unless insecure is set explicitly.
func NewClient(timeout time.Duration, insecure bool) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // opt-in only
	return &http.Client{Timeout: timeout, Transport: tr}
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
	defer resp.Body.Close()
	body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return body, false, nil
	}
	snippet := string(body)
	if len(snippet) > 200 {
		snippet = snippet[:200] + "…"
	}
	se := &StatusError{Code: resp.StatusCode, Body: snippet}
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return body, retry, fmt.Errorf("%s %s: %w", req.Method, req.URL.Host, se)
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

func transient(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
