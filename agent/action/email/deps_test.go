package email

import (
	"os/exec"
	"strings"
	"testing"
)

// The runner's idle-memory budget has no room for a mail library: go-mail
// (and the golang.org/x/text tables it links) cost about 0.7 MiB of RSS.
func TestNoMailLibrary(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/wneessen/go-mail", "golang.org/x/text"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("the package depends on %s", dep)
			}
		}
	}
}
