package daemontest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// systemdVars are what the service manager sets; a test's own environment
// must not leak them into a daemon (the test may itself run under systemd).
var systemdVars = []string{"NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
	"WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "STATE_DIRECTORY", "RUNTIME_DIRECTORY",
	"CONFIGURATION_DIRECTORY", "CREDENTIALS_DIRECTORY", "INVOCATION_ID"}

// Env is the test's environment without systemd's variables, plus extra.
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, v := range systemdVars {
			keep = keep && name != v
		}
		if keep {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// WithPID runs argv through sh so that a variable can name the daemon's own
// pid, as systemd sets LISTEN_PID and WATCHDOG_PID: sh exports the variable
// with its pid and execs the daemon, which keeps that pid.
func WithPID(variable string, argv ...string) []string {
	return append([]string{"/bin/sh", "-c", variable + `=$$ exec "$@"`, "sh"}, argv...)
}

// Proc is a daemon running as a subprocess. Its stdout and stderr are
// files, not pipes, so a line is readable as soon as the daemon's write
// returns: what the daemon logged before a notification is in the file by
// the time the notification arrives.
type Proc struct {
	cmd    *exec.Cmd
	stdout string // file names
	stderr string
	exited chan struct{}
	err    error // set before exited closes
}

// Start runs cmd with stdout and stderr captured in files. The process is
// killed when the test ends if it still runs.
func Start(t *testing.T, cmd *exec.Cmd) *Proc {
	t.Helper()
	dir := t.TempDir()
	p := &Proc{cmd: cmd, stdout: filepath.Join(dir, "stdout"), stderr: filepath.Join(dir, "stderr"), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = create(t, p.stdout), create(t, p.stderr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
			t.Logf("killed %s at the end of the test; stderr:\n%s", cmd.Path, p.Stderr())
		}
	})
	return p
}

func create(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// Pid is the subprocess's pid.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stdout and Stderr return what the process wrote so far.
func (p *Proc) Stdout() string { return readFile(p.stdout) }
func (p *Proc) Stderr() string { return readFile(p.stderr) }

func readFile(name string) string {
	b, _ := os.ReadFile(name)
	return string(b)
}

// Line is the first complete stderr line containing substr, if any yet.
func (p *Proc) Line(substr string) (string, bool) {
	for l := range strings.Lines(p.Stderr()) {
		if strings.HasSuffix(l, "\n") && strings.Contains(l, substr) {
			return strings.TrimSuffix(l, "\n"), true
		}
	}
	return "", false
}

// AwaitLog waits for a stderr line containing substr and returns it.
func (p *Proc) AwaitLog(t *testing.T, substr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if l, ok := p.Line(substr); ok {
			return l
		}
		select {
		case <-p.exited:
			if l, ok := p.Line(substr); ok {
				return l
			}
			t.Fatalf("process exited before logging %q:\n%s", substr, p.Stderr())
		case <-time.After(10 * time.Millisecond): // a file has no change notification worth the code
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line with %q within %s:\n%s", substr, timeout, p.Stderr())
		}
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// Exited is closed once the process ended, however.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Wait waits for the exit and returns the exit code; a death by signal or
// no exit within timeout fails the test.
func (p *Proc) Wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("still running after %s; stderr:\n%s", timeout, p.Stderr())
	}
	var exit *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode()
	}
	t.Fatalf("process ended abnormally: %v; stderr:\n%s", p.err, p.Stderr())
	return -1
}

var logAttr = regexp.MustCompile(`(?:^| )([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)`)

// LogAttr is the value of key in a slog text line ("" if absent).
func LogAttr(line, key string) string {
	for _, m := range logAttr.FindAllStringSubmatch(line, -1) {
		if m[1] == key {
			return strings.Trim(m[2], `"`)
		}
	}
	return ""
}
