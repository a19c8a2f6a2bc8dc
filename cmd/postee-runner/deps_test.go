package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The runner runs on every host of a fleet, with an idle RSS budget of
// 25 MB; each module below once cost it most of a MiB and has a
// replacement of our own or the standard library's: the runner's metrics
// (agent/metrics/lite), the AWS SigV4 signer and credential providers
// (awssecurityhub), SMTP (email, net/smtp). Tests may still use them.
var notInTheRunner = []string{
	"github.com/prometheus/client_golang", "google.golang.org/protobuf",
	"github.com/aws/aws-sdk-go-v2", "github.com/aws/smithy-go",
	"github.com/wneessen/go-mail", "golang.org/x/text",
}

func TestRunnerDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, mod := range notInTheRunner {
			if pkg == mod || strings.HasPrefix(pkg, mod+"/") {
				t.Errorf("postee-runner links %s (module %s)", pkg, mod)
			}
		}
	}
}
