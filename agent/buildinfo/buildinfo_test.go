package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	got := String("postee-runner", "1.2.3")
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 3 || lines[0] != "postee-runner 1.2.3" ||
		lines[1] != "commit: "+Commit() || lines[2] != "go: "+runtime.Version() {
		t.Fatalf("String = %q", got)
	}
	if Commit() == "" {
		t.Fatal("Commit is empty; want a revision or \"unknown\"")
	}
}
