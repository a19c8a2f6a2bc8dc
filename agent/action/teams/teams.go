// Package teams posts messages to Microsoft Teams: `type: teams` through an
// Office 365 connector (MessageCard with HTML), `type: teamsworkflows`
// through a Power Automate workflow webhook (Adaptive Card).
package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
)

func init() {
	action.Register("teams", New)
	action.Register("teamsworkflows", New)
}

var _ action.Action = (*Teams)(nil)

// Teams sends to one Teams webhook.
type Teams struct {
	name      string
	typ       string
	url       string // secret: the webhook URL embeds the key
	workflows bool
	client    *http.Client
	log       *slog.Logger
}

// New builds a Teams action from its spec; spec.Type picks the card format.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.check(spec); err != nil {
		return nil, err
	}
	log := spec.Log()
	return &Teams{
		name: spec.Name, typ: spec.Type, url: c.URL.Value(),
		workflows: spec.Type == "teamsworkflows",
		client:    httpx.NewClient(0, false), log: log,
	}, nil
}

// Send posts the card.
func (t *Teams) Send(ctx context.Context, m action.Message) (bool, error) {
	card := messageCard(m)
	if t.workflows {
		card = adaptiveCard(m)
	}
	retry, err := t.post(ctx, card)
	if err != nil {
		return retry, fmt.Errorf("%s action %q: %w", t.typ, t.name, err)
	}
	return false, nil
}

func (t *Teams) post(ctx context.Context, card map[string]any) (bool, error) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(card); err != nil {
		return false, err
	}
	answer, retry, err := httpx.PostJSON(ctx, t.client, t.url, body.Bytes(), nil)
	if err != nil {
		return retry, err
	}
	return connectorResult(answer)
}

// connectorResult reads a legacy connector's answer: it says "1" on success
// and reports a failed delivery, throttling included, inside a 200.
func connectorResult(answer []byte) (bool, error) {
	s := strings.TrimSpace(string(answer))
	if s == "" || strings.HasPrefix(s, "1") || strings.HasPrefix(s, "{") {
		return false, nil
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.Contains(s, "429"), fmt.Errorf("teams refused the message: %s", s)
}
