// Package servicenow inserts a record (an incident by default) through the
// ServiceNow Table API, as Postee's `type: serviceNow` action does.
package servicenow

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

func init() {
	action.Register("serviceNow", New)
	action.Register("servicenow", New)
}

var _ action.Action = (*ServiceNow)(nil)

// ServiceNow inserts records into one table of one instance.
type ServiceNow struct {
	name   string
	cfg    Config // Password resolved; a secret
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
	log := spec.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ServiceNow{name: spec.Name, cfg: c, client: httpx.NewClient(0, false), log: log}, nil
}

// Send inserts one record.
func (s *ServiceNow) Send(ctx context.Context, m action.Message) (bool, error) {
	b, err := json.Marshal(s.record(m))
	if err != nil {
		return false, fmt.Errorf("serviceNow action %q: %w", s.name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL+"/api/now/table/"+s.cfg.Board, bytes.NewReader(b))
	if err != nil {
		return false, fmt.Errorf("serviceNow action %q: build request: %w", s.name, action.ErrPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(s.cfg.User, s.cfg.Password)
	if _, retry, err := httpx.Do(ctx, s.client, req); err != nil {
		return retry, fmt.Errorf("serviceNow action %q: %w", s.name, err)
	}
	return false, nil
}
