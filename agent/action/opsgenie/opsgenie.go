// Package opsgenie creates Opsgenie alerts, as Postee's `type: opsgenie`
// action does.
package opsgenie

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
)

func init() { action.Register("opsgenie", New) }

var _ action.Action = (*Opsgenie)(nil)

// Opsgenie creates alerts through one API integration.
type Opsgenie struct {
	name   string
	cfg    Config // holds the token: a secret
	client *http.Client
	log    *slog.Logger
}

// New builds an Opsgenie action from its spec.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.resolve(spec); err != nil {
		return nil, err
	}
	log := spec.Log()
	return &Opsgenie{name: spec.Name, cfg: c, client: httpx.NewClient(0, false), log: log}, nil
}

// Send creates one alert. Opsgenie accepts it asynchronously (202).
func (o *Opsgenie) Send(ctx context.Context, m action.Message) (bool, error) {
	b, err := json.Marshal(o.alert(m))
	if err != nil {
		return false, fmt.Errorf("opsgenie action %q: %w", o.name, err)
	}
	auth := func(h http.Header) { h.Set("Authorization", "GenieKey "+o.cfg.Token.Value()) }
	if _, retry, err := httpx.PostJSON(ctx, o.client, o.cfg.base+"/v2/alerts", b, auth); err != nil {
		return retry, fmt.Errorf("opsgenie action %q: %w", o.name, err)
	}
	return false, nil
}
