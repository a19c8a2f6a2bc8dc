package exec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// orphan starts a run as Send does and leaves it: the daemon that started
// it "died" right after the script began.
func orphan(t *testing.T, e *Exec, runID string) int {
	t.Helper()
	m := msg
	m.RunID = runID
	rec, err := openRecord(e.stateDir, runID)
	if err != nil {
		t.Fatal(err)
	}
	cmd, gate, cleanup, err := e.command(m, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rec.started(cmd.Process.Pid)
	if _, err := gate.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }() // reaped, as init would reap an orphan
	return cmd.Process.Pid
}

// TestDaemonDeadBeforeTheRecordNamedTheScript: the daemon started the
// wrapper but died before recording its process: the wrapper gets no "go"
// and never runs the script, so the rerun a restart does (nothing alive,
// no status) is the only run.
func TestDaemonDeadBeforeTheRecordNamedTheScript(t *testing.T) {
	out := filepath.Join(t.TempDir(), "runs")
	e, _, _ := build(t, fmt.Sprintf("name: ex\ntype: exec\nexec-script: 'echo ran >> %s'\n", out), nil)
	e.stateDir = t.TempDir()
	m := msg
	m.RunID = "ev-9/r-1/ex"
	rec, err := openRecord(e.stateDir, m.RunID)
	if err != nil {
		t.Fatal(err)
	}
	cmd, gate, cleanup, err := e.command(m, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cleanup() // the daemon's end: its end of the gate closes, no "go" sent
	_ = gate
	_ = cmd.Wait()
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the script ran without the daemon's go")
	}
	if done, err := e.Recover(context.Background(), m.RunID); err != nil || done {
		t.Fatalf("Recover = %v, %v; want not done, so the step runs (once)", done, err)
	}
}

// TestRecoverAScriptThatOutlivedTheDaemon: a script interrupted only in
// its daemon's eyes finishes and records it; Recover waits for it and
// reports it done, so the step is not run twice. A script killed with its
// daemon, and a run never started, are not done.
func TestRecoverAScriptThatOutlivedTheDaemon(t *testing.T) {
	out := filepath.Join(t.TempDir(), "runs")
	y := fmt.Sprintf("name: ex\ntype: exec\nexec-script: 'sleep 0.3; echo \"$POSTEE_EVENT_ID\" >> %s'\n", out)
	e, logs, _ := build(t, y, nil)
	e.stateDir = t.TempDir()
	ctx := context.Background()

	orphan(t, e, "ev-1/r-1/ex")
	done, err := e.Recover(ctx, "ev-1/r-1/ex")
	if err != nil || !done {
		t.Fatalf("Recover = %v, %v; want the finished run", done, err)
	}
	if b, _ := os.ReadFile(out); strings.Count(string(b), "ev-1") != 1 {
		t.Fatalf("script output %q", b)
	}
	if !strings.Contains(fmt.Sprint(logs.Records()), "finished while the daemon was down") {
		t.Fatal("the recovered run was not logged")
	}
	e.Forget("ev-1/r-1/ex")
	if _, err := os.Stat(recordDir(e.stateDir, "ev-1/r-1/ex")); !os.IsNotExist(err) {
		t.Fatalf("record kept after Forget: %v", err)
	}

	pid := orphan(t, e, "ev-2/r-1/ex")
	_ = syscall.Kill(-pid, syscall.SIGKILL) // killed with its daemon (a cgroup kill)
	deadline := time.Now().Add(5 * time.Second)
	for recordOf(e, "ev-2/r-1/ex").alive() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if done, err := e.Recover(ctx, "ev-2/r-1/ex"); err != nil || done {
		t.Fatalf("Recover of a killed script = %v, %v; want not done", done, err)
	}
	if done, err := e.Recover(ctx, "never/started/ex"); err != nil || done {
		t.Fatalf("Recover of a run never started = %v, %v", done, err)
	}
}

func recordOf(e *Exec, runID string) record { return record{dir: recordDir(e.stateDir, runID)} }

// TestSendKeepsItsRecordUntilForgotten: with a state directory, a run's
// record outlives Send (the step is marked done after it), so a crash
// between the two is recovered, not rerun.
func TestSendKeepsItsRecordUntilForgotten(t *testing.T) {
	e, _, _ := build(t, "name: ex\ntype: exec\nexec-script: 'exit 0'\n", nil)
	e.stateDir = t.TempDir()
	m := msg
	m.RunID = "ev-3/r-1/ex"
	if _, err := e.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if done, err := e.Recover(context.Background(), m.RunID); err != nil || !done {
		t.Fatalf("Recover after Send = %v, %v", done, err)
	}
	e.Forget(m.RunID)
	if done, _ := e.Recover(context.Background(), m.RunID); done {
		t.Fatal("a forgotten run still recovers")
	}
}
