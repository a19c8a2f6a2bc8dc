package splunk

import (
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/actiontest"
)

// testSpec is the Spec for a splunk action with the given keys; the test
// fails if anything the action logged holds "sekret", the marker every
// secret in these tests carries.
func testSpec(t *testing.T, keys string) action.Spec {
	t.Helper()
	return actiontest.GuardedSpec(t, "splunk", keys, "sekret")
}

func noSecret(t *testing.T, err error, secret string) {
	t.Helper()
	actiontest.NoSecret(t, err, secret)
}
