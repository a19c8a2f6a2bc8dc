package exec

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/postee-fleet/posteed/agent/procfs"
)

// A script outlives the daemon that started it: when a runner is killed
// (kill -9, OOM) while a script runs, the script goes on. So every run gets
// a record, a directory under the daemon's state directory that the script
// itself completes: a small /bin/sh wrapper writes the script's exit status
// there when it ends. Output goes to a file in the record, not a pipe, so a
// dead daemon does not kill the script with SIGPIPE, and the body is read
// from a file there too. After a restart, Recover reads the record of a
// run that was interrupted: finished (the status is there) means it is not
// run again; still running means wait for it.
//
// (Under systemd a crash of the daemon kills its whole cgroup, scripts
// included, before the restart: then the record has no status and the
// action's on-crash policy decides.)

// wrapper waits for the daemon's "go" on fd 3 (sent once the record names
// the process; a daemon that died before sends none, and the script never
// runs), then runs "$@" and records its exit status in
// $POSTEE_RUN_DIR/status.
const wrapper = `IFS= read -r go <&3 && [ "$go" = go ] || exit 125; exec 3<&-; "$@"; s=$?; printf '%s' "$s" > "$POSTEE_RUN_DIR/status.tmp" && mv -f "$POSTEE_RUN_DIR/status.tmp" "$POSTEE_RUN_DIR/status"; exit "$s"`

// record is the directory of one run.
type record struct{ dir string }

// openRecord creates the record of run id under root (root "" : a
// temporary directory, for a daemon without state, removed after the run).
func openRecord(root, runID string) (record, error) {
	if root == "" || runID == "" {
		d, err := os.MkdirTemp("", "posteed-exec-*")
		return record{dir: d}, err
	}
	dir := recordDir(root, runID)
	if err := os.RemoveAll(dir); err != nil { // a run record of an earlier attempt
		return record{}, err
	}
	return record{dir: dir}, os.MkdirAll(dir, 0o700)
}

func recordDir(root, runID string) string {
	h := sha256.Sum256([]byte(runID))
	return filepath.Join(root, "exec", hex.EncodeToString(h[:12]))
}

func (r record) path(name string) string { return filepath.Join(r.dir, name) }

// started notes the script's process, so a later Recover can tell it
// still runs (pid and start time: pids are reused).
func (r record) started(pid int) {
	_ = os.WriteFile(r.path("pid"), fmt.Appendf(nil, "%d %d", pid, procStart(pid)), 0o600)
}

// status is the exit status the wrapper recorded.
func (r record) status() (int, bool) {
	b, err := os.ReadFile(r.path("status"))
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

// output is the first max bytes the script wrote, and how many more there were.
func (r record) output(max int) (string, int) {
	f, err := os.Open(r.path("out"))
	if err != nil {
		return "", 0
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, int64(max)))
	st, _ := f.Stat()
	dropped := 0
	if st != nil && st.Size() > int64(len(b)) {
		dropped = int(st.Size()) - len(b)
	}
	return strings.ToValidUTF8(string(b), ""), dropped
}

// alive reports whether the recorded process still runs.
func (r record) alive() bool {
	b, err := os.ReadFile(r.path("pid"))
	if err != nil {
		return false
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscanf(string(b), "%d %d", &pid, &start); err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) == nil && procStart(pid) == start && liveMember(pid, pid)
}

func (r record) remove() { _ = os.RemoveAll(r.dir) }

// procStart is a process's start time in clock ticks since boot (0 if it
// is gone).
func procStart(pid int) uint64 {
	s, err := procfs.ReadStat(pid)
	if err != nil {
		return 0
	}
	return s.Uint(22)
}

// Recover implements action.Recoverer: whether the run runID, interrupted
// by a crash of the daemon, finished anyway. A run still going is waited
// for (up to the action's timeout).
func (e *Exec) Recover(ctx context.Context, runID string) (bool, error) {
	if e.stateDir == "" {
		return false, nil
	}
	r := record{dir: recordDir(e.stateDir, runID)}
	if _, err := os.Stat(r.dir); errors.Is(err, os.ErrNotExist) {
		return false, nil // never started
	}
	deadline := time.Now().Add(e.timeout + e.grace)
	for r.alive() {
		if time.Now().After(deadline) {
			return false, fmt.Errorf("script of run %s still running after the action's timeout", runID)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	code, ok := r.status()
	if !ok {
		return false, nil
	}
	out, _ := r.output(maxOutput)
	e.log.Info("exec script finished while the daemon was down", "run_id", runID, "exit_code", code, "output", out)
	return true, nil
}

// Forget implements action.Recoverer: the run is recorded done, its record
// is not needed any more.
func (e *Exec) Forget(runID string) {
	if e.stateDir != "" && runID != "" {
		record{dir: recordDir(e.stateDir, runID)}.remove()
	}
}
