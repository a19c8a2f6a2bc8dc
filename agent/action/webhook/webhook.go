// Package webhook implements Postee's `webhook` action: POST the rendered
// message, as JSON, to a URL.
package webhook

import (
	"context"
	"fmt"
	"net/http"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
)

func init() { action.Register("webhook", New) }

var _ action.Action = (*Webhook)(nil)

// Webhook posts each message's body.
type Webhook struct {
	name   string
	url    string // may hold a token: never in errors or logs
	client *http.Client
}

// New decodes and validates a webhook action.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err // it already names file, line, action and key
	}
	c.setDefaults()
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("action %q: %w", spec.Name, err)
	}
	return &Webhook{name: spec.Name, url: c.URL.Value(), client: httpx.NewClient(c.Timeout.D(), false)}, nil
}

// Send posts the rendered body. Postee accepted only 200; any 2xx will do.
func (w *Webhook) Send(ctx context.Context, m action.Message) (bool, error) {
	if _, retry, err := httpx.PostJSON(ctx, w.client, w.url, []byte(m.Body), nil); err != nil {
		return retry, fmt.Errorf("action %q: %w", w.name, err)
	}
	return false, nil
}
