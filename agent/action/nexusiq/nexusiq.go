// Package nexusiq implements Postee's `nexusIq` action (also spelled
// `nexusiq`): register the rendered CycloneDX SBOM with a Nexus IQ server.
// The template's title names the application (its public id, with '.', ':'
// and '/' replaced by '_' as Postee did); the application is created in the
// configured organization when it does not exist; the body is the BOM (XML),
// posted to /api/v2/scan/applications/{id}/sources/cyclone.
package nexusiq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
)

func init() {
	action.Register("nexusIq", New)
	action.Register("nexusiq", New)
}

var _ action.Action = (*NexusIQ)(nil)

// NexusIQ uploads SBOMs.
type NexusIQ struct {
	name   string
	base   string
	org    string
	auth   string // Authorization header: holds the password, never in errors or logs
	client *http.Client
}

// New decodes and validates a nexusIq action.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("action %q: %w", spec.Name, err)
	}
	return &NexusIQ{
		name: spec.Name, base: c.base(), org: c.OrganizationID.Value(),
		auth:   c.Password.BasicAuth(c.User.Value()),
		client: httpx.NewClient(c.Timeout.D(), false),
	}, nil
}

var notAllowed = regexp.MustCompile(`[.:/]`)

// publicID is the application id Postee derived from the title.
func publicID(title string) string { return notAllowed.ReplaceAllString(title, "_") }

// Send finds or creates the application named by the title, then registers
// the body as its CycloneDX source.
func (n *NexusIQ) Send(ctx context.Context, m action.Message) (bool, error) {
	if m.Title == "" {
		return false, fmt.Errorf("action %q: the template's title (the application name) is empty: %w", n.name, action.ErrPermanent)
	}
	id, retry, err := n.application(ctx, publicID(m.Title))
	if err != nil {
		return retry, fmt.Errorf("action %q: %w", n.name, err)
	}
	path := "/api/v2/scan/applications/" + url.PathEscape(id) + "/sources/cyclone"
	if _, retry, err := n.do(ctx, http.MethodPost, path, "application/xml", []byte(m.Body)); err != nil {
		return retry, fmt.Errorf("action %q: register bom: %w", n.name, err)
	}
	return false, nil
}

func (n *NexusIQ) application(ctx context.Context, pid string) (string, bool, error) {
	body, retry, err := n.do(ctx, http.MethodGet, "/api/v2/applications/organization/"+url.PathEscape(n.org), "", nil)
	if err != nil {
		return "", retry, fmt.Errorf("list applications: %w", err)
	}
	var list struct {
		Applications []struct {
			ID       string `json:"id"`
			PublicID string `json:"publicId"`
		} `json:"applications"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return "", false, fmt.Errorf("list applications: answer is not JSON: %w", action.ErrPermanent)
	}
	for _, a := range list.Applications {
		if a.PublicID == pid && a.ID != "" {
			return a.ID, false, nil
		}
	}
	req, _ := json.Marshal(map[string]string{"publicId": pid, "name": pid, "organizationId": n.org})
	body, retry, err = n.do(ctx, http.MethodPost, "/api/v2/applications", "application/json", req)
	if err != nil {
		return "", retry, fmt.Errorf("create application: %w", err)
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.ID == "" {
		return "", false, errors.New("create application: the answer has no id")
	}
	return created.ID, false, nil
}

func (n *NexusIQ) do(ctx context.Context, method, path, ctype string, body []byte) ([]byte, bool, error) {
	req, err := http.NewRequestWithContext(ctx, method, n.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, false, fmt.Errorf("build request: %w", action.ErrPermanent)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", n.auth)
	return httpx.Do(ctx, n.client, req)
}
