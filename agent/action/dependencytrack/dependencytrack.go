// Package dependencytrack implements Postee's `dependencytrack` action:
// upload the rendered CycloneDX BOM (JSON, as Postee's
// postee.trivyoperator.dependencytrack template makes from a Trivy event) to
// Dependency-Track's PUT /api/v1/bom. The title is "project:version"; the
// project is created when missing (autoCreate), as Postee did.
package dependencytrack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
)

func init() { action.Register("dependencytrack", New) }

var _ action.Action = (*DependencyTrack)(nil)

// DependencyTrack uploads BOMs.
type DependencyTrack struct {
	name   string
	url    string
	apiKey string // never in errors or logs
	client *http.Client
}

// New decodes and validates a dependencytrack action.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("action %q: %w", spec.Name, err)
	}
	return &DependencyTrack{name: spec.Name, url: c.base(), apiKey: c.APIKey.Value(), client: httpx.NewClient(c.Timeout.D(), false)}, nil
}

type bomUpload struct {
	ProjectName    string `json:"projectName"`
	ProjectVersion string `json:"projectVersion"`
	AutoCreate     bool   `json:"autoCreate"`
	BOM            string `json:"bom"` // base64 of the BOM document
}

// Send uploads the body as the BOM of the title's project and version.
func (d *DependencyTrack) Send(ctx context.Context, m action.Message) (bool, error) {
	project, version, ok := strings.Cut(m.Title, ":")
	if !ok || project == "" {
		return false, fmt.Errorf("action %q: the title must be \"project:version\": %w", d.name, action.ErrPermanent)
	}
	if !json.Valid([]byte(m.Body)) {
		return false, fmt.Errorf("action %q: the body is not a JSON BOM: %w", d.name, action.ErrPermanent)
	}
	payload, err := json.Marshal(bomUpload{
		ProjectName: project, ProjectVersion: version, AutoCreate: true,
		BOM: base64.StdEncoding.EncodeToString([]byte(m.Body)),
	})
	if err != nil {
		return false, fmt.Errorf("action %q: %w", d.name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, d.url+"/api/v1/bom", bytes.NewReader(payload))
	if err != nil {
		return false, fmt.Errorf("action %q: build request: %w", d.name, action.ErrPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", d.apiKey)
	if _, retry, err := httpx.Do(ctx, d.client, req); err != nil {
		return retry, fmt.Errorf("action %q: upload bom: %w", d.name, err)
	}
	return false, nil
}
