package jira

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
)

// Config is a Postee `type: jira` action.
type Config struct {
	URL  config.URL `yaml:"url"`
	User string     `yaml:"user"`
	// Password is the password (Jira Server/Data Center) or API token
	// (Jira Cloud), used with User for basic authentication.
	Password config.Secret `yaml:"password"`
	// Token is a Jira Server/Data Center personal access token, sent as a
	// bearer token; it wins over Password.
	Token config.Secret `yaml:"token"`
	// TLSVerify defaults to true here (Postee defaulted to false); only an
	// explicit `tls-verify: false` turns verification off.
	TLSVerify       *bool             `yaml:"tls-verify"`
	ProjectKey      string            `yaml:"project-key"`
	IssueType       string            `yaml:"issuetype"`
	Priority        string            `yaml:"priority"`
	Assignee        []string          `yaml:"assignee"`
	Summary         string            `yaml:"summary"`
	Labels          []string          `yaml:"labels"`
	FixVersions     []string          `yaml:"fix-versions"`
	AffectsVersions []string          `yaml:"affects-versions"`
	Unknowns        map[string]string `yaml:"unknowns"`
	// Postee's board and sprint are not decoded: the loader accepts them
	// with a warning (config.posteeTypeKeys).
}

const defaultIssueType = "Task"

func (c *Config) resolve(spec action.Spec) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("jira action %q: "+format, append([]any{spec.Name}, a...)...)
	}
	if !c.URL.Set() {
		return fail("url is required: the absolute http(s) URL of the Jira site")
	}
	if c.ProjectKey == "" {
		return fail("project-key is required")
	}
	c.ProjectKey = strings.ToUpper(c.ProjectKey)
	if c.IssueType == "" {
		c.IssueType = defaultIssueType
	}
	return c.checkAuth(fail)
}

func (c *Config) checkAuth(fail func(string, ...any) error) error {
	switch {
	case c.Token.Set() && isCloud(c.URL.Value()):
		return fail("token (a personal access token) works only with Jira Server/Data Center; for Jira Cloud set user and password to an API token")
	case c.Token.Set():
		return nil
	case c.User == "" || !c.Password.Set():
		return fail("user and password (or token) are required")
	}
	return nil
}

// isCloud tells Jira Cloud, which names users by account id, from Jira
// Server/Data Center, which names them by user name.
func isCloud(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && strings.HasSuffix(u.Hostname(), ".atlassian.net")
}

// authorization is the Authorization header: a bearer token or basic
// authentication. It holds a secret.
func (c *Config) authorization() string {
	if c.Token.Set() {
		return "Bearer " + c.Token.Value()
	}
	return c.Password.BasicAuth(c.User)
}
