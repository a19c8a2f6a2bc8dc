package teams

import (
	"os"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/actiontest"
)

// testSpec builds the Spec the loader would hand over for a teams action
// with the given type-specific keys. "$NAME" secrets come from the test's
// environment (t.Setenv), and the test fails if anything the action logged
// holds "sekret", the marker every secret in these tests carries.
func testSpec(t *testing.T, keys string) action.Spec {
	t.Helper()
	spec := actiontest.SpecEnv(t, "name: test-action\ntype: teams\n"+keys, environ())
	log, logs := actiontest.Logger()
	spec.Logger = log
	t.Cleanup(func() { actiontest.NoSecret(t, logs, "sekret") })
	return spec
}

func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

func noSecret(t *testing.T, err error, secret string) {
	t.Helper()
	actiontest.NoSecret(t, err, secret)
}
