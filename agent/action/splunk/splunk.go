// Package splunk sends events to a Splunk HTTP Event Collector, as Postee's
// `type: splunk` action does.
package splunk

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
)

func init() { action.Register("splunk", New) }

var _ action.Action = (*Splunk)(nil)

// Splunk posts events to one collector.
type Splunk struct {
	name   string
	cfg    Config // Token resolved; a secret
	client *http.Client
	log    *slog.Logger
}

// New builds a Splunk action from its spec.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.resolve(spec); err != nil {
		return nil, err
	}
	log := spec.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if c.SizeLimit < defaultSizeLimit {
		log.Warn("splunk: size-limit is below Postee's default; big reports will be cut or refused",
			"action", spec.Name, "size_limit", c.SizeLimit)
	}
	return &Splunk{name: spec.Name, cfg: c, client: httpx.NewClient(0, false), log: log}, nil
}

// Send posts one event.
func (s *Splunk) Send(ctx context.Context, m action.Message) (bool, error) {
	body, err := encode(m, s.cfg.SizeLimit)
	if err != nil {
		return false, fmt.Errorf("splunk action %q: %w", s.name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("splunk action %q: build request: %w", s.name, action.ErrPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Splunk "+s.cfg.Token)
	if _, retry, err := httpx.Do(ctx, s.client, req); err != nil {
		return retry, fmt.Errorf("splunk action %q: %w", s.name, err)
	}
	return false, nil
}
