// Package servicenow inserts a record (an incident by default) through the
// ServiceNow Table API, as Postee's `type: serviceNow` action does.
package servicenow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
)

func init() {
	action.Register("serviceNow", New)
	action.Register("servicenow", New)
}

var _ action.Action = (*ServiceNow)(nil)

// ServiceNow inserts records into one table of one instance.
type ServiceNow struct {
	name   string
	cfg    Config // holds the Authorization header: a secret
	client *http.Client
	log    *slog.Logger
}

// New builds a ServiceNow action from its spec.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.resolve(spec); err != nil {
		return nil, err
	}
	log := spec.Log()
	return &ServiceNow{name: spec.Name, cfg: c, client: httpx.NewClient(0, false), log: log}, nil
}

// Send inserts one record.
func (s *ServiceNow) Send(ctx context.Context, m action.Message) (bool, error) {
	b, err := json.Marshal(s.record(m))
	if err != nil {
		return false, fmt.Errorf("serviceNow action %q: %w", s.name, err)
	}
	auth := func(h http.Header) {
		h.Set("Accept", "application/json")
		h.Set("Authorization", s.cfg.auth)
	}
	if _, retry, err := httpx.PostJSON(ctx, s.client, s.cfg.base+"/api/now/table/"+s.cfg.Board, b, auth); err != nil {
		return retry, fmt.Errorf("serviceNow action %q: %w", s.name, err)
	}
	return false, nil
}
