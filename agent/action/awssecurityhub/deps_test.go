package awssecurityhub

import (
	"os/exec"
	"strings"
	"testing"
)

// The action is built into every runner, whose idle memory the AWS SDK
// would grow by 0.8 MiB: only the tests may use it.
func TestNoAWSSDKOutsideTests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/aws/") {
			t.Errorf("non-test code depends on %s", pkg)
		}
	}
}
