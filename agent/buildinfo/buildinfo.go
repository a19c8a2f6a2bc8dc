// Package buildinfo says what a binary was built from: its version (set
// with -ldflags "-X main.version=..."), the VCS commit the Go toolchain
// stamped in, and the Go version.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Commit is the VCS revision the binary was built from ("unknown" when the
// toolchain recorded none, as in go test or -buildvcs=false); a "+dirty"
// suffix marks uncommitted changes.
func Commit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "unknown"
	}
	return rev + dirty
}

// GoVersion is the Go toolchain's version, e.g. go1.26.8.
func GoVersion() string { return runtime.Version() }

// String is what --version prints: the program and version on the first
// line (scripts compare that line), then the commit and Go version.
func String(program, version string) string {
	return fmt.Sprintf("%s %s\ncommit: %s\ngo: %s\n", program, version, Commit(), GoVersion())
}
