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
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

func init() { action.Register("exec", New) }

var _ action.Action = (*Exec)(nil)

const (
	// killGrace is how long a timed-out script has between SIGTERM and SIGKILL.
	killGrace = 2 * time.Second
	// pipeGrace bounds the wait for output pipes held open by a background
	// child after the script itself has exited.
	pipeGrace = time.Second
	// maxOutput bounds the captured stdout and stderr.
	maxOutput = 64 << 10
	// envCap bounds one event-derived environment value; the kernel's limit
	// is 128 KiB per string, and all of them share ARG_MAX.
	envCap = 32 << 10
)

// Exec runs one configured script per message.
type Exec struct {
	name    string
	prog    program
	env     []string
	timeout time.Duration
	grace   time.Duration
	log     *slog.Logger
}

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
	cmd, cleanup, err := e.command(m)
	if err != nil {
		return false, fmt.Errorf("action %q: %w", e.name, err)
	}
	defer cleanup()
	out := &boundedBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out

	runCtx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	start := time.Now()
	runErr := runGroup(runCtx, cmd, e.grace)
	err = e.outcome(ctx, runCtx, runErr)
	e.logRun(m, cmd, time.Since(start), out, err)
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
	case errors.Is(runErr, osexec.ErrWaitDelay):
		return nil // exited cleanly; a background child kept the output open
	}
	var ee *osexec.ExitError
	if errors.As(runErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("script killed by signal %s", ws.Signal())
		}
		return fmt.Errorf("script exited with code %d", ee.ExitCode())
	}
	if runErr != nil {
		return fmt.Errorf("starting script: %w", runErr)
	}
	return nil
}

func (e *Exec) logRun(m action.Message, cmd *osexec.Cmd, d time.Duration, out *boundedBuffer, err error) {
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	attrs := []any{
		slog.String("action", e.name), slog.String("route", m.Route), slog.String("event_id", m.EventID),
		slog.Int("exit_code", code), slog.Duration("duration", d), slog.String("output", out.String()),
	}
	if out.dropped > 0 {
		attrs = append(attrs, slog.Int("output_dropped_bytes", out.dropped))
	}
	if err != nil {
		e.log.Warn("exec script failed", append(attrs, logx.Err(err))...)
		return
	}
	e.log.Info("exec script finished", attrs...)
}

// command builds the process for m; cleanup removes any temporary script.
func (e *Exec) command(m action.Message) (*osexec.Cmd, func(), error) {
	argv, cleanup, err := e.argv()
	if err != nil {
		return nil, nil, err
	}
	env, envCleanup, err := e.environ(m)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	cmd := osexec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(m.Body)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = pipeGrace
	return cmd, func() { cleanup(); envCleanup() }, nil
}

func (e *Exec) argv() ([]string, func(), error) {
	p := e.prog
	switch {
	case p.shell:
		return []string{"/bin/sh", "-c", p.inline}, func() {}, nil
	case p.inline == "":
		return p.argv, func() {}, nil
	}
	f, err := os.CreateTemp("", "posteed-exec-*")
	if err != nil {
		return nil, nil, fmt.Errorf("writing inline script: %w", err)
	}
	cleanup := func() { _ = os.Remove(f.Name()) }
	_, werr := f.WriteString(p.inline)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		cleanup()
		return nil, nil, fmt.Errorf("writing inline script: %w", werr)
	}
	return append(append([]string{}, p.argv...), f.Name()), cleanup, nil
}

// environ builds the script's environment; cleanup removes the files that
// carry values too large for it.
func (e *Exec) environ(m action.Message) ([]string, func(), error) {
	env := append(os.Environ(), e.env...)
	dir := ""
	cleanup := func() {
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
	}
	for _, kv := range [...][2]string{{"POSTEE_EVENT", m.Body}, {"POSTEE_TITLE", m.Title}, {"POSTEE_EVENT_ID", m.EventID}, {"POSTEE_ROUTE", m.Route}} {
		name, v := kv[0], kv[1]
		if len(v) <= envCap {
			env = append(env, name+"="+v)
			continue
		}
		if dir == "" {
			d, err := os.MkdirTemp("", "posteed-exec-env-*") // 0700
			if err != nil {
				return nil, nil, fmt.Errorf("writing %s to a file: %w", name, err)
			}
			dir = d
		}
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("writing %s to a file: %w", name, err)
		}
		env = append(env, name+"_FILE="+f)
		e.log.Warn("value too large for the environment; the script gets it in a file",
			slog.String("action", e.name), slog.String("event_id", m.EventID),
			slog.String("variable", name), slog.Int("bytes", len(v)), slog.String("file_variable", name+"_FILE"))
	}
	return env, cleanup, nil
}
