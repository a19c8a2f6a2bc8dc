// Package pagerduty triggers PagerDuty alerts through the Events API v2, as
// Postee's `type: pagerduty` action does.
package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
)

func init() { action.Register("pagerduty", New) }

var _ action.Action = (*PagerDuty)(nil)

// maxSummary is the Events API limit on payload.summary.
const maxSummary = 1024

// PagerDuty sends trigger events for one service.
type PagerDuty struct {
	name   string
	cfg    Config // holds the routing key: a secret
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
}

// New builds a PagerDuty action from its spec.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.resolve(spec); err != nil {
		return nil, err
	}
	log := spec.Log()
	return &PagerDuty{name: spec.Name, cfg: c, client: httpx.NewClient(0, false), log: log, now: time.Now}, nil
}

// Send triggers one alert. The event id is the dedup key, so a redelivered
// message updates the same alert instead of paging twice.
func (p *PagerDuty) Send(ctx context.Context, m action.Message) (bool, error) {
	b, err := json.Marshal(p.event(m))
	if err != nil {
		return false, fmt.Errorf("pagerduty action %q: %w", p.name, err)
	}
	if _, retry, err := httpx.PostJSON(ctx, p.client, p.cfg.endpoint, b, nil); err != nil {
		return retry, fmt.Errorf("pagerduty action %q: %w", p.name, err)
	}
	return false, nil
}

func (p *PagerDuty) event(m action.Message) map[string]any {
	summary := strings.Join(strings.Fields(m.Title), " ")
	if summary == "" {
		summary = "Postee event"
	}
	if len(summary) > maxSummary {
		summary = strings.ToValidUTF8(summary[:maxSummary-3], "") + "…"
	}
	ev := map[string]any{
		"routing_key":  p.cfg.RoutingKey.Value(),
		"event_action": "trigger",
		"payload": map[string]any{
			"summary":        summary,
			"source":         "postee",
			"severity":       "critical",
			"timestamp":      p.now().UTC().Format(time.RFC3339),
			"custom_details": details(m.Body),
		},
	}
	if m.EventID != "" {
		ev["dedup_key"] = m.Route + "/" + m.EventID
	}
	if m.URL != "" {
		ev["links"] = []map[string]string{{"href": m.URL, "text": "Details"}}
	}
	return ev
}

// details keeps a JSON body as structured details, anything else as text.
func details(body string) any {
	if json.Valid([]byte(body)) && strings.HasPrefix(strings.TrimSpace(body), "{") {
		return json.RawMessage(body)
	}
	return body
}
