package exec

import (
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/actiontest"
	"github.com/postee-fleet/posteed/agent/procfs"
)

var msg = action.Message{Title: "Vuln found", Body: `{"image":"alpine:3.10"}`, EventID: "ev-1", Route: "r-1"}

// build makes an exec action from YAML, logging into the returned Logs.
func build(t *testing.T, yamlText string, env map[string]string) (*Exec, *actiontest.Logs, action.Spec) {
	t.Helper()
	spec := actiontest.SpecEnv(t, yamlText, env)
	log, logs := actiontest.Logger()
	spec.Logger = log.With("action", spec.Name) // as the engine gives it
	a, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return a.(*Exec), logs, spec
}

func lastRecord(t *testing.T, logs *actiontest.Logs) map[string]any {
	t.Helper()
	recs := logs.Records()
	if len(recs) == 0 {
		t.Fatal("nothing logged")
	}
	return recs[len(recs)-1]
}

func TestSendOutputAndExitCode(t *testing.T) {
	tests := []struct {
		name       string
		script     string
		wantErr    string
		wantCode   float64
		wantOutput string
	}{
		{"success", "echo hello", "", 0, "hello\n"},
		{"stderr and exit code", "echo oops >&2; exit 3", "script exited with code 3", 3, "oops\n"},
		{"killed by signal", "kill -KILL $$", "killed by signal KILL", 137, "Killed\n"}, // the wrapper shell reports 128+9
		{"event on stdin", "cat", "", 0, msg.Body},
		{"postee variables", `printf '%s|%s|%s|%s' "$POSTEE_EVENT" "$POSTEE_TITLE" "$POSTEE_EVENT_ID" "$POSTEE_ROUTE"`,
			"", 0, msg.Body + "|Vuln found|ev-1|r-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, logs, _ := build(t, fmt.Sprintf("name: ex\ntype: exec\nexec-script: %q\n", tt.script), nil)
			retry, err := e.Send(context.Background(), msg)
			if retry {
				t.Fatal("exec never asks for a retry")
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), `action "ex"`) {
				t.Fatalf("error does not name the action: %v", err)
			}
			rec := lastRecord(t, logs)
			if rec["exit_code"] != tt.wantCode || rec["output"] != tt.wantOutput || rec["action"] != "ex" ||
				rec["route"] != "r-1" || rec["event_id"] != "ev-1" || rec["duration"] == nil {
				t.Fatalf("log record = %v", rec)
			}
		})
	}
}

func TestEnvList(t *testing.T) {
	y := `name: ex
type: exec
env: ["GREETING=hi there", "TOKEN=$TOK", "LITERAL=$HOME/bin", "EMPTY="]
exec-script: 'printf "%s|%s|%s|%s|" "$GREETING" "$TOKEN" "$LITERAL" "$EMPTY"; printenv PATH >/dev/null && echo inherited'
`
	e, logs, _ := build(t, y, map[string]string{"TOK": "tok-value"})
	if _, err := e.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if got := lastRecord(t, logs)["output"]; got != "hi there|tok-value|$HOME/bin||inherited\n" {
		t.Fatalf("output = %q", got)
	}
}

func TestSecretStaysOutOfErrorsAndLogs(t *testing.T) {
	y := "name: ex\ntype: exec\nenv: [\"TOKEN=$TOK\"]\nexec-script: 'echo failing; exit 1'\n"
	e, logs, _ := build(t, y, map[string]string{"TOK": "tok-very-secret"})
	_, err := e.Send(context.Background(), msg)
	if err == nil {
		t.Fatal("want an error")
	}
	actiontest.NoSecret(t, err, "tok-very-secret")
	actiontest.NoSecret(t, logs, "tok-very-secret")
}

func TestShebangPicksInterpreter(t *testing.T) {
	cat, err := osexec.LookPath("cat")
	if err != nil {
		t.Skip("no cat")
	}
	script := "#!" + cat + "\nthis text is printed, not run\n"
	e, logs, _ := build(t, fmt.Sprintf("name: ex\ntype: exec\nexec-script: %q\n", script), nil)
	if _, err := e.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if got := lastRecord(t, logs)["output"]; got != script {
		t.Fatalf("output = %q, want the script itself", got)
	}
}

func TestInputFileRelativeToBaseDir(t *testing.T) {
	spec := actiontest.Spec(t, "name: ex\ntype: exec\ninput-file: scripts/hook.sh\n")
	dir := filepath.Join(spec.BaseDir, "scripts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Not executable, as Postee's input files need not be: it runs under /bin/sh.
	if err := os.WriteFile(filepath.Join(dir, "hook.sh"), []byte(`echo "file got $POSTEE_EVENT_ID"`), 0o644); err != nil {
		t.Fatal(err)
	}
	log, logs := actiontest.Logger()
	spec.Logger = log
	a, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if got := lastRecord(t, logs)["output"]; got != "file got ev-1\n" {
		t.Fatalf("output = %q", got)
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"both", "exec-script: echo\ninput-file: x.sh\n", `action "ex": exec-script and input-file are exclusive`},
		{"neither", "env: [A=b]\n", `action "ex": one of exec-script or input-file is required`},
		{"missing file", "input-file: nope.sh\n", `action "ex": input-file: stat`},
		{"missing absolute file", "input-file: /nonexistent/hook.sh\n", "no such file"},
		{"directory", "input-file: .\n", "is not a regular file"},
		{"bad env entry", "exec-script: echo\nenv: [NOEQUALS]\n", `cfg.yaml:4: actions[0] "ex".env: want NAME=value`},
		{"unset secret", "exec-script: echo\nenv: [T=$UNSET_VAR]\n", `cfg.yaml:4: actions[0] "ex".env[0]: environment variable UNSET_VAR is not set`},
		{"bad timeout", "exec-script: echo\ntimeout: soon\n", `actions[0] "ex".timeout`},
		{"unknown key", "exec-script: echo\ntimout: 5s\n", `did you mean "timeout"`},
		{"missing interpreter", "exec-script: \"#!/nonexistent/python\\nprint(1)\"\n", "#! interpreter"},
		{"relative interpreter", "exec-script: \"#!python\\nprint(1)\"\n", "not an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(actiontest.Spec(t, "name: ex\ntype: exec\n"+tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDefaultTimeout(t *testing.T) {
	e, _, _ := build(t, "name: ex\ntype: exec\nexec-script: echo\n", nil)
	if e.timeout != DefaultTimeout {
		t.Fatalf("timeout = %s", e.timeout)
	}
	e, _, _ = build(t, "name: ex\ntype: exec\nexec-script: echo\ntimeout: 5\n", nil)
	if e.timeout != 5*time.Second {
		t.Fatalf("timeout = %s", e.timeout)
	}
}

// TestTimeoutKillsProcessGroup runs a script that leaves a child sleeping and
// checks that the child, not only the script, is gone after the timeout.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	tests := []struct {
		name   string
		script string
	}{
		{"children die on SIGTERM", `sleep 300 & echo $! > "$PIDFILE"; wait`},
		// With SIGTERM ignored (and inherited as ignored), only SIGKILL works.
		{"SIGTERM ignored", `trap "" TERM; sleep 300 & echo $! > "$PIDFILE"; wait; wait`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			y := fmt.Sprintf("name: ex\ntype: exec\ntimeout: 300ms\nenv: [PIDFILE=%s]\nexec-script: %q\n", pidfile, tt.script)
			e, _, _ := build(t, y, nil)
			e.grace = 300 * time.Millisecond
			_, err := e.Send(context.Background(), msg)
			if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") {
				t.Fatalf("err = %v", err)
			}
			awaitGone(t, readPid(t, pidfile))
		})
	}
}

func TestCancelKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	y := fmt.Sprintf("name: ex\ntype: exec\nenv: [PIDFILE=%s]\nexec-script: %q\n", pidfile,
		`sleep 300 & echo $! > "$PIDFILE.tmp"; mv "$PIDFILE.tmp" "$PIDFILE"; wait`)
	e, _, _ := build(t, y, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := e.Send(ctx, msg); errc <- err }()
	pid := awaitPidfile(t, pidfile)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	awaitGone(t, pid)
}

func TestLargeEventOnStdinOnly(t *testing.T) {
	e, logs, _ := build(t, "name: ex\ntype: exec\nexec-script: 'echo ${#POSTEE_EVENT} $(wc -c <\"$POSTEE_EVENT_FILE\"); wc -c'\n", nil)
	big := msg
	big.Body = strings.Repeat("x", 200<<10)
	if _, err := e.Send(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	out, _ := lastRecord(t, logs)["output"].(string)
	if f := strings.Fields(out); len(f) != 3 || f[0] != "0" || f[1] != strconv.Itoa(200<<10) || f[2] != f[1] {
		t.Fatalf("output = %q", out)
	}
	if _, ok := logs.Find("value too large for the environment; the script gets it in a file"); !ok {
		t.Fatal("no warning logged")
	}
}

// A 128 KiB title made every exec fail with "argument list too long".
func TestHugeTitleDoesNotStopScript(t *testing.T) {
	e, logs, _ := build(t, "name: ex\ntype: exec\nexec-script: 'echo ${#POSTEE_TITLE} $(wc -c <\"$POSTEE_TITLE_FILE\") $POSTEE_EVENT_ID; echo \"$POSTEE_TITLE_FILE\"'\n", nil)
	big := msg
	big.Title = strings.Repeat("t", 128<<10)
	if _, err := e.Send(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	out, _ := lastRecord(t, logs)["output"].(string)
	f := strings.Fields(out)
	if len(f) != 4 || f[0] != "0" || f[1] != strconv.Itoa(128<<10) || f[2] != msg.EventID {
		t.Fatalf("output = %q", out)
	}
	if _, err := os.Stat(f[3]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("title file %s left behind: %v", f[3], err)
	}
}

func TestOutputIsBounded(t *testing.T) {
	e, logs, _ := build(t, "name: ex\ntype: exec\nexec-script: 'head -c 100000 /dev/zero | tr \"\\\\0\" a'\n", nil)
	if _, err := e.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	rec := lastRecord(t, logs)
	if out, _ := rec["output"].(string); len(out) != maxOutput {
		t.Fatalf("kept %d bytes", len(out))
	}
	if rec["output_dropped_bytes"] != float64(100000-maxOutput) {
		t.Fatalf("dropped = %v", rec["output_dropped_bytes"])
	}
}

// A background child that keeps stdout open must not hold Send: output goes
// to a file, and the script's end is the wrapper's.
func TestBackgroundChildDoesNotBlock(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	y := fmt.Sprintf("name: ex\ntype: exec\nenv: [PIDFILE=%s]\nexec-script: %q\n", pidfile, `sleep 30 & echo $! > "$PIDFILE"; echo started`)
	e, _, _ := build(t, y, nil)
	t.Cleanup(func() { _ = syscall.Kill(readPid(t, pidfile), syscall.SIGKILL) })
	start := time.Now()
	if _, err := e.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Send took %s", d)
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func awaitPidfile(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return readPid(t, path)
		}
		time.Sleep(10 * time.Millisecond) // polling a file the script writes; no event to wait on
	}
	t.Fatal("script never wrote its child's pid")
	return 0
}

// awaitGone waits until pid no longer runs. A killed child reparented to an
// init that does not reap stays a zombie, which counts as gone.
func awaitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if !running(pid) {
			return
		}
		time.Sleep(10 * time.Millisecond) // polling /proc; there is no exit event for a non-child
	}
	t.Fatalf("child %d still running after the script was killed", pid)
}

func running(pid int) bool {
	s, err := procfs.ReadStat(pid)
	if err != nil {
		return false
	}
	st := s.Field(3)
	return st != "Z" && st != "X"
}
