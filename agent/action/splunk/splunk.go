// Package splunk sends events to a Splunk HTTP Event Collector, as Postee's
// `type: splunk` action does.
package splunk

import (
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
	cfg    Config // holds the token: a secret
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
	log := spec.Log()
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
	auth := func(h http.Header) { h.Set("Authorization", "Splunk "+s.cfg.Token.Value()) }
	if _, retry, err := httpx.PostJSON(ctx, s.client, s.cfg.endpoint, body, auth); err != nil {
		return retry, fmt.Errorf("splunk action %q: %w", s.name, err)
	}
	return false, nil
}
