// Package exec implements Postee's `exec` action: run an operator's script
// with the event in its environment.
//
// The script inherits the daemon's whole environment, then the action's
// `env` entries, then POSTEE_EVENT (the rendered body), POSTEE_TITLE,
// POSTEE_EVENT_ID and POSTEE_ROUTE. The body is also on the script's stdin.
// The kernel refuses an environment string over 128 KiB (and the whole of
// argv and environment past ARG_MAX), so event content is capped there: a
// POSTEE_* value over envCap is left out of the environment and written to a
// private temporary file named by POSTEE_<NAME>_FILE instead. The script
// runs in the daemon's working directory, in its own process group, which is
// killed whole when the timeout passes or the daemon stops.
package exec

import (
	"context"
	"errors"
	"fmt"
	"github.com/postee-fleet/posteed/agent/logx"
	"log/slog"
	"os"
	osexec "os/exec"
	"syscall"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

func init() { action.Register("exec", New) }

var _ action.Action = (*Exec)(nil)

const (
	// killGrace is how long a timed-out script has between SIGTERM and SIGKILL.
	killGrace = 2 * time.Second
	// maxOutput bounds the captured stdout and stderr.
	maxOutput = 64 << 10
	// envCap bounds one event-derived environment value; the kernel's limit
	// is 128 KiB per string, and all of them share ARG_MAX.
	envCap = 32 << 10
)

// Exec runs one configured script per message.
type Exec struct {
	name     string
	prog     program
	env      []string
	timeout  time.Duration
	grace    time.Duration
	log      *slog.Logger
	stateDir string // where run records live ("": temporary ones)
}

var _ action.Recoverer = (*Exec)(nil)

// New decodes and validates an exec action.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err // it already names file, line, action and key
	}
	e, err := newExec(spec, c)
	if err != nil {
		return nil, fmt.Errorf("action %q: %w", spec.Name, err)
	}
	return e, nil
}

// Send runs the script. A non-zero exit or a timeout is an error that
// retrying will not fix: the script may have done part of its work.
func (e *Exec) Send(ctx context.Context, m action.Message) (bool, error) {
	rec, err := openRecord(e.stateDir, m.RunID)
	if err != nil {
		return false, fmt.Errorf("action %q: run record: %w", e.name, err)
	}
	if e.stateDir == "" || m.RunID == "" {
		defer rec.remove() // nothing to recover it: a temporary record
	}
	cmd, gate, cleanup, err := e.command(m, rec)
	if err != nil {
		return false, fmt.Errorf("action %q: %w", e.name, err)
	}
	defer cleanup()

	runCtx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	start := time.Now()
	runErr := runGroup(runCtx, cmd, e.grace, func(pid int) {
		// The record names the process before the script may start: a
		// crash in between leaves a wrapper that exits at once (no go),
		// never a script running that a restart cannot see.
		rec.started(pid)
		_, _ = gate.Write([]byte("go\n"))
		gate.Close()
	})
	err = e.outcome(ctx, runCtx, runErr)
	e.logRun(m, cmd, time.Since(start), rec, err)
	if err != nil {
		return false, fmt.Errorf("action %q: %w", e.name, err)
	}
	return false, nil
}

// outcome turns what runGroup returned into the action's error.
func (e *Exec) outcome(ctx, runCtx context.Context, runErr error) error {
	switch {
	case runCtx.Err() != nil && ctx.Err() == nil:
		return fmt.Errorf("script timed out after %s; its process group was killed", e.timeout)
	case ctx.Err() != nil:
		return fmt.Errorf("script stopped: %w", ctx.Err())
	}
	var ee *osexec.ExitError
	if errors.As(runErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("script killed by signal %s", signalName(ws.Signal()))
		}
		// The wrapper reports a script killed by signal N as 128+N.
		if code := ee.ExitCode(); code > 128 && code < 128+65 {
			return fmt.Errorf("script killed by signal %s (exit code %d)", signalName(syscall.Signal(code-128)), code)
		}
		return fmt.Errorf("script exited with code %d", ee.ExitCode())
	}
	if runErr != nil {
		return fmt.Errorf("starting script: %w", runErr)
	}
	return nil
}

func (e *Exec) logRun(m action.Message, cmd *osexec.Cmd, d time.Duration, rec record, err error) {
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	out, dropped := rec.output(maxOutput)
	attrs := []any{
		slog.String("route", m.Route), slog.String("event_id", m.EventID), // the logger names the action
		slog.Int("exit_code", code), slog.Duration("duration", d), slog.String("output", out),
	}
	if dropped > 0 {
		attrs = append(attrs, slog.Int("output_dropped_bytes", dropped))
	}
	if err != nil {
		e.log.Warn("exec script failed", append(attrs, logx.Err(err))...)
		return
	}
	e.log.Info("exec script finished", attrs...)
}

// command builds the process for m, run through the wrapper that records
// its exit in rec and waits for "go" on gate before it runs the script;
// cleanup closes the files it was given.
func (e *Exec) command(m action.Message, rec record) (cmd *osexec.Cmd, gate *os.File, cleanup func(), err error) {
	argv, err := e.argv(rec)
	if err != nil {
		return nil, nil, nil, err
	}
	env, err := e.environ(m, rec)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := os.WriteFile(rec.path("stdin"), []byte(m.Body), 0o600); err != nil {
		return nil, nil, nil, fmt.Errorf("writing the body for stdin: %w", err)
	}
	in, err := os.Open(rec.path("stdin"))
	if err != nil {
		return nil, nil, nil, err
	}
	out, err := os.OpenFile(rec.path("out"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		in.Close()
		return nil, nil, nil, err
	}
	wait, gate, err := os.Pipe()
	if err != nil {
		in.Close()
		out.Close()
		return nil, nil, nil, err
	}
	cmd = osexec.Command("/bin/sh", append([]string{"-c", wrapper, "posteed-exec"}, argv...)...)
	cmd.Env = append(env, "POSTEE_RUN_DIR="+rec.dir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, out
	cmd.ExtraFiles = []*os.File{wait} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, gate, func() { in.Close(); out.Close(); wait.Close(); gate.Close() }, nil
}

func (e *Exec) argv(rec record) ([]string, error) {
	p := e.prog
	switch {
	case p.shell:
		return []string{"/bin/sh", "-c", p.inline}, nil
	case p.inline == "":
		return p.argv, nil
	}
	// An inline script with its own interpreter (#!) runs from a file.
	script := rec.path("script")
	if err := os.WriteFile(script, []byte(p.inline), 0o600); err != nil {
		return nil, fmt.Errorf("writing inline script: %w", err)
	}
	return append(append([]string{}, p.argv...), script), nil
}

// environ builds the script's environment; values too large for it go to
// files in the run's record.
func (e *Exec) environ(m action.Message, rec record) ([]string, error) {
	env := append(os.Environ(), e.env...)
	for _, kv := range [...][2]string{{"POSTEE_EVENT", m.Body}, {"POSTEE_TITLE", m.Title}, {"POSTEE_EVENT_ID", m.EventID}, {"POSTEE_ROUTE", m.Route}} {
		name, v := kv[0], kv[1]
		if len(v) <= envCap {
			env = append(env, name+"="+v)
			continue
		}
		f := rec.path(name)
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			return nil, fmt.Errorf("writing %s to a file: %w", name, err)
		}
		env = append(env, name+"_FILE="+f)
		e.log.Warn("value too large for the environment; the script gets it in a file",
			slog.String("action", e.name), slog.String("event_id", m.EventID),
			slog.String("variable", name), slog.Int("bytes", len(v)), slog.String("file_variable", name+"_FILE"))
	}
	return env, nil
}

// signalName is a signal's conventional name (KILL, TERM), or its number.
func signalName(s syscall.Signal) string {
	names := map[syscall.Signal]string{syscall.SIGKILL: "KILL", syscall.SIGTERM: "TERM", syscall.SIGINT: "INT",
		syscall.SIGHUP: "HUP", syscall.SIGSEGV: "SEGV", syscall.SIGABRT: "ABRT", syscall.SIGPIPE: "PIPE"}
	if n, ok := names[s]; ok {
		return n
	}
	return fmt.Sprint(int(s))
}
