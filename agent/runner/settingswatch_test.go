package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/intake/tracefile"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// replaceFile writes path the way editors and configuration managers do:
// a new file renamed over the old one.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	fleettest.WriteFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func discoveryTOML(paths ...string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("runner-name = \"r1\"\n\n[discovery]\ntracee-files = [%s]\n", strings.Join(q, ", "))
}

func following(r *Runner, path string) bool {
	return slices.ContainsFunc(r.files.follower.Stats().Files, func(f tracefile.FileStats) bool { return f.Path == path })
}

// TestSettingsWatch edits runner.toml under a running runner: a newly listed
// Tracee file is followed, a file no longer listed is let go, and a broken
// runner.toml is reported while the running files keep working.
func TestSettingsWatch(t *testing.T) {
	x := newTracee1(t)
	r := x.runner.r
	samples := traceeLines(t)
	a, b := x.file, filepath.Join(filepath.Dir(x.file), "second.json")
	cfg := x.runner.opts.Settings.ConfigFile
	fleettest.WriteFile(t, b, seqLines(samples, 999, 1000, false)) // its past is not news

	replaceFile(t, cfg, discoveryTOML(a, b))
	fleettest.Eventually(t, "the new file followed", func() bool { return following(x.runner.r, b) })
	fleettest.AppendFile(t, b, seqLines(samples, 0, 5, false))
	fleettest.Eventually(t, "the new file's lines", func() bool { return x.recv.exactlyOnce(0, 5) })

	replaceFile(t, cfg, discoveryTOML(b))
	fleettest.Eventually(t, "the dropped file let go", func() bool { return !following(r, a) })
	fleettest.AppendFile(t, a, seqLines(samples, 100, 105, false))
	fleettest.AppendFile(t, b, seqLines(samples, 5, 10, false))
	fleettest.Eventually(t, "lines of the file still listed", func() bool { return x.recv.distinct() == 10 })
	fleettest.Stays(t, "nothing from the dropped file", func() bool { return x.recv.exactlyOnce(0, 10) })

	fleettest.WriteFile(t, cfg, "[discovery\ntracee-files = \n") // written in place, broken
	fleettest.Eventually(t, "the broken runner.toml reported", func() bool {
		return x.logs.Contains("level=ERROR", "runner.toml not reloaded", "file="+cfg)
	})
	fleettest.AppendFile(t, b, seqLines(samples, 10, 15, false))
	fleettest.Eventually(t, "the running file still followed", func() bool { return x.recv.exactlyOnce(0, 15) })
	if !following(r, b) || following(r, a) {
		t.Fatalf("following %v after a broken runner.toml", r.files.follower.Stats().Files)
	}
}

// TestSettingsReloadSignal: without a watch (runner.toml's directory did not
// exist at start), SIGHUP applies the new tracee-files; unknown keys in
// [discovery] are refused.
func TestSettingsReloadSignal(t *testing.T) {
	x := newTracee1(t, func(s *Settings) { s.ConfigFile = filepath.Join(t.TempDir(), "later", "runner.toml") })
	rh, r := x.runner, x.runner.r
	if !x.logs.Contains("runner.toml is not watched") {
		t.Fatal("a watch on a missing directory was not reported")
	}
	b := filepath.Join(filepath.Dir(x.file), "second.json")
	fleettest.WriteFile(t, b, "")
	cfg := rh.opts.Settings.ConfigFile

	fleettest.WriteFile(t, cfg, discoveryTOML(x.file, b)+"typo = 1\n") // a key after [discovery] belongs to it
	rh.reload <- struct{}{}
	fleettest.Eventually(t, "the unknown key reported", func() bool { return x.logs.Contains("runner.toml not reloaded", "typo") })
	if following(r, b) {
		t.Fatal("an invalid runner.toml was applied")
	}

	fleettest.WriteFile(t, cfg, discoveryTOML(x.file, b))
	rh.reload <- struct{}{}
	fleettest.Eventually(t, "the new file followed", func() bool { return following(r, b) })
	fleettest.AppendFile(t, b, seqLines(traceeLines(t), 0, 3, false))
	fleettest.Eventually(t, "the new file's lines", func() bool { return x.recv.exactlyOnce(0, 3) })
}
