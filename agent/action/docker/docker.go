// Package docker implements Postee's `docker` action: run a container
// through the local Docker Engine API for each message, as a containment
// or remediation step (typically placed on the runner of the host
// concerned).
//
// A run pulls the image when the host lacks it, creates the container
// (command, environment, network, mounts), starts it, waits for it to
// stop, reads its output into the log, and removes it, also when the run
// times out or the daemon stops. The container gets the action's
// docker-env entries plus POSTEE_EVENT (the rendered body), POSTEE_TITLE,
// POSTEE_EVENT_ID and POSTEE_ROUTE; a value over envCap is left out, as
// the kernel would refuse to start the container's process with it.
//
// The Engine API is plain HTTP over a unix socket; the half-dozen calls a
// run needs are written here rather than pulling in the Docker SDK, whose
// module graph is many times the size of this package.
package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/subst"
	"github.com/postee-fleet/posteed/agent/logx"
)

func init() { action.Register("docker", New) }

var (
	_ action.Action = (*Docker)(nil)
	_ action.Closer = (*Docker)(nil)
)

const (
	// maxOutput bounds the container output kept for the log.
	maxOutput = 64 << 10
	// envCap bounds one event-derived environment value.
	envCap = 32 << 10
	// cleanupTimeout bounds removing a container after its run.
	cleanupTimeout = 30 * time.Second
)

// Docker runs one configured container per message.
type Docker struct {
	name    string
	image   string
	cmd     []*subst.Template
	env     []string // docker-env, resolved
	network string
	mounts  []mount
	timeout time.Duration
	engine  *engine
	log     *slog.Logger
}

// New decodes and validates a docker action. Nothing is asked of the
// daemon until a message comes: it may start later, or live on a runner.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	c.setDefaults()
	if err := c.validate(); err != nil {
		return nil, err // the engine names the file, line and action
	}
	mounts, _ := c.mounts()
	d := &Docker{
		name: spec.Name, image: c.Image, network: c.Network, mounts: mounts,
		timeout: c.Timeout.D(), engine: newEngine(c.Socket), log: spec.Log(),
	}
	for _, arg := range c.Cmd {
		d.cmd = append(d.cmd, subst.Compile(arg))
	}
	for _, e := range c.Env {
		d.env = append(d.env, e.String())
	}
	return d, nil
}

// Close drops the idle connection to the daemon.
func (d *Docker) Close() error {
	d.engine.client.CloseIdleConnections()
	return nil
}

// Send runs the container. A failure before it starts (daemon unreachable,
// pull refused) may be retried; once started, it is not: the container may
// have done part of its work.
func (d *Docker) Send(ctx context.Context, m action.Message) (bool, error) {
	runCtx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if err := d.engine.ensureImage(runCtx, d.image); err != nil {
		return transient(err), fmt.Errorf("action %q: %w", d.name, err)
	}
	id, err := d.engine.create(runCtx, containerName(d.name), d.spec(m))
	if err != nil {
		return transient(err), fmt.Errorf("action %q: create container: %w", d.name, err)
	}
	defer d.remove(ctx, id)
	if err := d.engine.start(runCtx, id); err != nil {
		return transient(err), fmt.Errorf("action %q: start container: %w", d.name, err)
	}
	start := time.Now()
	code, err := d.engine.wait(runCtx, id)
	err = d.outcome(ctx, runCtx, code, err)
	d.logRun(ctx, m, id, code, time.Since(start), err)
	if err != nil {
		return false, fmt.Errorf("action %q: %w", d.name, err)
	}
	return false, nil
}

// outcome turns the wait's result into the action's error.
func (d *Docker) outcome(ctx, runCtx context.Context, code int, err error) error {
	switch {
	case runCtx.Err() != nil && ctx.Err() == nil:
		return fmt.Errorf("container timed out after %s; it is removed", d.timeout)
	case ctx.Err() != nil:
		return fmt.Errorf("container stopped: %w", ctx.Err())
	case err != nil:
		return err
	case code != 0:
		return fmt.Errorf("container exited with code %d", code)
	}
	return nil
}

// spec is the container for m.
func (d *Docker) spec(m action.Message) containerSpec {
	s := containerSpec{
		Image:      d.image,
		Env:        append(append([]string(nil), d.env...), d.eventEnv(m)...),
		Labels:     map[string]string{"posteed.action": d.name, "posteed.event-id": m.EventID},
		HostConfig: hostConfig{NetworkMode: d.network, Mounts: d.mounts},
	}
	for _, t := range d.cmd {
		s.Cmd = append(s.Cmd, string(t.Render(m.Doc())))
	}
	return s
}

func (d *Docker) eventEnv(m action.Message) []string {
	var out []string
	for _, kv := range [][2]string{{"POSTEE_EVENT", m.Body}, {"POSTEE_TITLE", m.Title}, {"POSTEE_EVENT_ID", m.EventID}, {"POSTEE_ROUTE", m.Route}} {
		if len(kv[1]) > envCap || strings.ContainsRune(kv[1], 0) {
			d.log.Warn("value left out of the container's environment: too large or holds a NUL",
				slog.String("action", d.name), slog.String("event_id", m.EventID), slog.String("name", kv[0]), slog.Int("bytes", len(kv[1])))
			continue
		}
		out = append(out, kv[0]+"="+kv[1])
	}
	return out
}

func (d *Docker) logRun(ctx context.Context, m action.Message, id string, code int, took time.Duration, err error) {
	logCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	out := &boundedBuffer{max: maxOutput}
	attrs := []any{
		slog.String("action", d.name), slog.String("route", m.Route), slog.String("event_id", m.EventID),
		slog.String("container", shortID(id)), slog.Int("exit_code", code), slog.Duration("duration", took),
	}
	if lerr := d.engine.logs(logCtx, id, out); lerr != nil {
		attrs = append(attrs, slog.String("output_error", lerr.Error()))
	}
	attrs = append(attrs, slog.String("output", out.String()))
	if out.dropped > 0 {
		attrs = append(attrs, slog.Int("output_dropped_bytes", out.dropped))
	}
	if err != nil {
		d.log.Warn("docker container failed", append(attrs, logx.Err(err))...)
		return
	}
	d.log.Info("docker container finished", attrs...)
}

// remove deletes the container even when ctx is done (a timeout, the
// daemon stopping): a stray container would keep running.
func (d *Docker) remove(ctx context.Context, id string) {
	rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := d.engine.remove(rmCtx, id); err != nil {
		d.log.Warn("docker container not removed", slog.String("action", d.name), slog.String("container", shortID(id)), logx.Err(err))
	}
}

var nameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// containerName is unique per run and says which action made it.
func containerName(action string) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return "postee-" + strings.Trim(nameUnsafe.ReplaceAllString(action, "-"), "-.") + "-" + hex.EncodeToString(r[:])
}

func shortID(id string) string { return id[:min(12, len(id))] }

// boundedBuffer keeps the first max bytes written and counts the rest.
type boundedBuffer struct {
	max     int
	buf     []byte
	dropped int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	take := min(len(p), b.max-len(b.buf))
	b.buf = append(b.buf, p[:take]...)
	b.dropped += len(p) - take
	return len(p), nil
}

func (b *boundedBuffer) String() string { return strings.ToValidUTF8(string(b.buf), "") }
