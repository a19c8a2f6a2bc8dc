package all

import (
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
)

func TestCoreTypesRegistered(t *testing.T) {
	for _, typ := range []string{"awssecurityhub", "docker", "exec", "http", "kubernetes", "stdout", "webhook"} {
		if _, ok := action.Default.Lookup(typ); !ok {
			t.Errorf("action type %q is not registered (registered: %v)", typ, action.Default.Types())
		}
	}
}
