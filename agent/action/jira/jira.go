// Package jira opens a Jira issue per message through the REST API v2, as
// Postee's `type: jira` action does.
package jira

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
)

func init() { action.Register("jira", New) }

var _ action.Action = (*Jira)(nil)

// maxDescription is Jira's limit on a text field.
const maxDescription = 32767

// Jira creates issues in one project.
type Jira struct {
	name   string
	cfg    Config
	base   string // the site's URL without a trailing slash
	auth   string // Authorization header: a secret
	cloud  bool
	client *http.Client
	log    *slog.Logger

	mu       sync.Mutex
	fields   map[string]field  // guarded by mu; by name and by id, nil until fetched
	accounts map[string]string // guarded by mu; Cloud account ids by query
}

// New builds a Jira action from its spec.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.resolve(spec); err != nil {
		return nil, err
	}
	log := spec.Log()
	log = log.With("action", spec.Name)
	insecure := c.TLSVerify != nil && !*c.TLSVerify
	if insecure {
		log.Warn("jira: TLS certificate verification is off (tls-verify: false)")
	}
	return &Jira{
		name: spec.Name, cfg: c, cloud: isCloud(c.URL.Value()),
		base: strings.TrimSuffix(c.URL.Value(), "/"), auth: c.authorization(),
		client: httpx.NewClient(0, insecure), log: log, accounts: map[string]string{},
	}, nil
}

// Send creates one issue: the title is its summary, the body its description.
func (j *Jira) Send(ctx context.Context, m action.Message) (bool, error) {
	fields, retry, err := j.issueFields(ctx, m)
	if err != nil {
		return retry, fmt.Errorf("jira action %q: %w", j.name, err)
	}
	var created struct {
		Key string `json:"key"`
	}
	if retry, err := j.call(ctx, http.MethodPost, "/rest/api/2/issue", map[string]any{"fields": fields}, &created); err != nil {
		return retry, fmt.Errorf("jira action %q: create issue: %w", j.name, err)
	}
	j.log.Info("jira issue created", "issue", created.Key)
	return false, nil
}

func (j *Jira) issueFields(ctx context.Context, m action.Message) (map[string]any, bool, error) {
	summary := oneLine(m.Title)
	if summary == "" {
		summary = j.cfg.Summary
	}
	f := map[string]any{
		"project":     map[string]string{"key": j.cfg.ProjectKey},
		"issuetype":   map[string]string{"name": j.cfg.IssueType},
		"summary":     truncate(summary, 255),
		"description": truncate(m.Body, maxDescription),
	}
	if j.cfg.Priority != "" {
		f["priority"] = map[string]string{"name": j.cfg.Priority}
	}
	if len(j.cfg.Labels) > 0 {
		f["labels"] = j.cfg.Labels
	}
	if len(j.cfg.FixVersions) > 0 {
		f["fixVersions"] = named(j.cfg.FixVersions)
	}
	if len(j.cfg.AffectsVersions) > 0 {
		f["versions"] = named(j.cfg.AffectsVersions)
	}
	if a := j.assignee(ctx, m); a != nil {
		f["assignee"] = a
	}
	retry, err := j.addUnknowns(ctx, f)
	return f, retry, err
}

func named(names []string) []map[string]string {
	out := make([]map[string]string, len(names))
	for i, n := range names {
		out[i] = map[string]string{"name": n}
	}
	return out
}
