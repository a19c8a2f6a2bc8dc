// Package http implements Postee's `http` action: one HTTP request per
// message to a configured URL, with a body that may quote the event.
package http

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
	"github.com/postee-fleet/posteed/agent/action/subst"
)

func init() { action.Register("http", New) }

var _ action.Action = (*HTTP)(nil)

// maxEventHeader bounds the Postee-Event header: Postee sent the whole
// message there, and servers refuse requests whose headers pass 8-16 KiB.
const maxEventHeader = 8 << 10

// HTTP sends one request per message.
type HTTP struct {
	name    string
	url     string // may hold a token: never in errors or logs
	method  string
	headers nethttp.Header
	body    *subst.Template // nil: the body is the rendered message, or remoteBody's
	// remoteBody is an absolute body-file read on the runner the action
	// runs on, not here (Preview names it).
	remoteBody string
	client     *nethttp.Client
}

var _ action.Previewer = (*HTTP)(nil)

// Preview returns the body the action would send for m.
func (h *HTTP) Preview(m action.Message) string {
	switch {
	case h.body != nil:
		return string(h.body.Render(m.Doc()))
	case h.remoteBody != "":
		return fmt.Sprintf("(body-file %s, read and filled in on the runner)", h.remoteBody)
	}
	return m.Body
}

// New decodes and validates an http action.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err // it already names file, line, action and key
	}
	h, err := newHTTP(spec, c)
	if err != nil {
		return nil, fmt.Errorf("action %q: %w", spec.Name, err)
	}
	return h, nil
}

// Send makes the request; network errors, timeouts, 429 and 5xx are worth
// a retry.
func (h *HTTP) Send(ctx context.Context, m action.Message) (bool, error) {
	// The message goes out as it is, not copied: a rendered report can be
	// tens of KiB, sent once per action.
	var body io.Reader
	var ctype string
	if h.body != nil {
		b := h.body.Render(m.Doc())
		body, ctype = bytes.NewReader(b), contentType(b)
	} else {
		body, ctype = strings.NewReader(m.Body), contentType(m.Body)
	}
	req, err := nethttp.NewRequestWithContext(ctx, h.method, h.url, body)
	if err != nil {
		// The URL was checked at load; keep it out of the text all the same.
		return false, fmt.Errorf("action %q: cannot build the request", h.name)
	}
	h.setHeaders(req, m, ctype)
	if _, retry, err := httpx.Do(ctx, h.client, req); err != nil {
		return retry, fmt.Errorf("action %q: %w", h.name, err)
	}
	return false, nil
}

func (h *HTTP) setHeaders(req *nethttp.Request, m action.Message, ctype string) {
	// Postee's receivers may read the message from this header, base64 so
	// that line breaks survive; a message too long for it is not encoded
	// at all.
	if base64.StdEncoding.EncodedLen(len(m.Body)) <= maxEventHeader {
		req.Header.Set("Postee-Event", base64.StdEncoding.EncodeToString([]byte(m.Body)))
	}
	for k, vals := range h.headers {
		for _, v := range vals {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", ctype)
	}
}

// contentType is JSON for a body shaped like a JSON object or array (the
// first and last non-space bytes): a hint for the receiver, decided without
// parsing the whole body on every send.
func contentType[T string | []byte](body T) string {
	i, j := 0, len(body)
	for i < j && isSpace(body[i]) {
		i++
	}
	for j > i && isSpace(body[j-1]) {
		j--
	}
	if j-i >= 2 && (body[i] == '{' && body[j-1] == '}' || body[i] == '[' && body[j-1] == ']') {
		return "application/json"
	}
	return "text/plain; charset=utf-8"
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
