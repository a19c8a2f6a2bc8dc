package servicenow

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
	"gopkg.in/yaml.v3"
)

// testSpec builds the Spec the config loader would hand over for an action
// whose type-specific keys are doc. (Stand-in until actiontest exists.)
func testSpec(t *testing.T, doc string) action.Spec {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatalf("test yaml: %v", err)
	}
	var node *yaml.Node
	if len(n.Content) > 0 {
		node = n.Content[0]
	}
	return action.Spec{
		Name:   "test-action",
		Type:   "serviceNow",
		Decode: config.Decoder("cfg.yaml", `actions[0] "test-action"`, node),
		Secret: envSecret,
		Logger: slog.New(slog.DiscardHandler),
	}
}

func envSecret(field, v string) (string, error) {
	name, ok := strings.CutPrefix(v, "$")
	if !ok {
		return v, nil
	}
	s, ok := os.LookupEnv(name)
	if !ok {
		return "", fmt.Errorf("%s: environment variable %s is not set", field, name)
	}
	return s, nil
}

// noSecret fails the test when err's text contains secret.
func noSecret(t *testing.T, err error, secret string) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Fatalf("error leaks the secret: %v", err)
	}
}
