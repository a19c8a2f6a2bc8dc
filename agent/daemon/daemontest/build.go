package daemontest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Version is stamped into binaries built by Build.
const Version = "v0.0.0-daemontest"

// Build compiles the main package in the working directory (a test's
// package directory) into a new temporary directory, with main.version set
// to Version. No -trimpath: the release flags would rebuild every
// dependency instead of reusing go test's cache. Call it from TestMain;
// remove the directory when the tests are done.
func Build(name string) (bin, dir string, err error) {
	dir, err = os.MkdirTemp("", "daemontest-")
	if err != nil {
		return "", "", err
	}
	bin = filepath.Join(dir, name)
	// go test puts its own go command first in PATH.
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+Version, "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", "", fmt.Errorf("go build %s: %w\n%s", name, err, out)
	}
	return bin, dir, nil
}
