// Package slack posts messages to a Slack incoming webhook, as Postee's
// `type: slack` action does.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
)

func init() { action.Register("slack", New) }

var _ action.Action = (*Slack)(nil)

// Slack sends to one incoming webhook.
type Slack struct {
	name   string
	url    string // secret: the webhook URL embeds the key
	client *http.Client
	log    *slog.Logger
}

// New builds a Slack action from its spec.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.check(spec); err != nil {
		return nil, err
	}
	log := spec.Log()
	return &Slack{name: spec.Name, url: c.URL.Value(), client: httpx.NewClient(0, false), log: log}, nil
}

// Send posts the message, in several parts when it has more blocks than
// Slack takes at once. A failure part-way means earlier parts were delivered.
func (s *Slack) Send(ctx context.Context, m action.Message) (bool, error) {
	parts := payloads(m)
	for i, p := range parts {
		if retry, err := s.post(ctx, p); err != nil {
			return retry, fmt.Errorf("slack action %q: part %d/%d: %w", s.name, i+1, len(parts), err)
		}
	}
	s.log.Debug("slack message sent", "parts", len(parts))
	return false, nil
}

func (s *Slack) post(ctx context.Context, p payload) (bool, error) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // Slack wants its own &lt; escapes, not \u003c
	if err := enc.Encode(p); err != nil {
		return false, err
	}
	_, retry, err := httpx.PostJSON(ctx, s.client, s.url, body.Bytes(), nil)
	return retry, err
}
