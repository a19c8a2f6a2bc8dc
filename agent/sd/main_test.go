package sd

import (
	"os"
	"testing"
)

// helperEnv switches the test binary into a helper daemon; see
// activationHelper.
const helperEnv = "SD_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "activation" {
		os.Exit(activationHelper())
	}
	os.Exit(m.Run())
}
