package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/postee-fleet/posteed/agent/logx"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/transport"
)

func (r *Runner) connect(ctx context.Context) error {
	s := r.opts.Settings
	// The handlers can fire before Connect returns, that is before r.nc
	// and r.js are set; their fetch waits until connect is done.
	set := make(chan struct{})
	defer close(set)
	fetch := func() {
		go func() {
			<-set
			r.fetchConfig(context.Background())
		}()
	}
	nc, err := transport.Connect(ctx, transport.ConnOptions{
		URL: s.ControllerURL, Name: s.Name, CertFile: s.TLSCert, KeyFile: s.TLSKey, CAFile: s.CARoot,
		NKeySeedFile: s.NKeySeed, Logger: r.opts.Logger,
	}, nats.ConnectHandler(func(*nats.Conn) {
		r.log.Info("connected to controller")
		r.spool.Kick()
		fetch()
	}), nats.ReconnectHandler(func(*nats.Conn) {
		r.log.Info("reconnected to controller")
		r.spool.Kick()
		fetch()
	}))
	if err != nil {
		return err
	}
	r.nc = nc
	if r.js, err = jetstream.New(nc); err != nil {
		return err
	}
	if _, err := nc.Subscribe(transport.CfgPush(s.Name), func(m *nats.Msg) {
		var sl transport.Slice
		if err := json.Unmarshal(m.Data, &sl); err != nil {
			r.log.Error("bad config push", logx.Err(err))
			return
		}
		_ = r.apply(context.Background(), &sl)
	}); err != nil {
		return fmt.Errorf("subscribe to config pushes: %w", err)
	}
	if nc.IsConnected() {
		go r.fetchConfig(ctx)
	}
	return nil
}

// fetchConfig asks the controller for the current slice.
func (r *Runner) fetchConfig(ctx context.Context) {
	if r.nc == nil || !r.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := json.Marshal(transport.CfgRequest{Runner: r.opts.Settings.Name})
	m, err := r.nc.RequestWithContext(ctx, transport.CfgGet(r.opts.Settings.Name), req)
	if err != nil {
		r.log.Warn("cannot fetch config from the controller", logx.Err(err))
		return
	}
	var sl transport.Slice
	if err := json.Unmarshal(m.Data, &sl); err != nil {
		r.log.Error("bad config from the controller", logx.Err(err))
		return
	}
	_ = r.apply(ctx, &sl)
}

func (r *Runner) cachePath() string { return filepath.Join(r.opts.Settings.StateDir, "slice.json") }

// loadCachedSlice starts from the last good slice, so the runner works while
// the controller is unreachable.
func (r *Runner) loadCachedSlice(ctx context.Context) {
	b, err := os.ReadFile(r.cachePath())
	if err != nil {
		return
	}
	var sl transport.Slice
	if err := json.Unmarshal(b, &sl); err != nil {
		r.log.Warn("cached config unreadable; waiting for the controller", logx.Err(err))
		return
	}
	if err := r.apply(ctx, &sl); err == nil {
		r.log.Info("started from cached config", "config_revision", sl.Revision)
	}
}

// apply compiles a slice and swaps it in; a bad slice leaves the running one.
func (r *Runner) apply(ctx context.Context, sl *transport.Slice) error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	if sl.Runner != r.opts.Settings.Name {
		return fmt.Errorf("slice is for %q", sl.Runner)
	}
	// Anything can be reflected onto our push subject by JetStream (see
	// controller/natsd); only a self-consistent slice for us is applied.
	if sl.Digest == "" || transport.SliceDigest(sl) != sl.Digest {
		r.log.Warn("config message with a wrong digest ignored", "config_revision", sl.Revision)
		return errors.New("slice digest mismatch")
	}
	if cur := r.cfg.Load(); cur != nil && olderThan(sl, cur.slice) {
		// A fetch reply that lost the race with a newer push.
		r.log.Info("older config ignored", "config_revision", sl.Revision, "running_revision", cur.slice.Revision, "epoch", sl.Epoch)
		return nil
	}
	if cur := r.cfg.Load(); cur != nil && cur.slice.Digest == sl.Digest {
		if cur.slice.Revision != sl.Revision {
			r.cfg.Store(&inUse{eng: cur.eng, slice: sl})
			r.saveCache(sl)
			r.log.Info("config revision unchanged in content", "config_revision", sl.Revision)
			r.sendHeartbeat()
		}
		return nil
	}
	eng, err := r.compileSlice(ctx, sl)
	if err != nil {
		r.log.Error("config slice rejected, keeping the running one", "config_revision", sl.Revision, logx.Err(err))
		return err
	}
	if cur := r.cfg.Load(); cur != nil {
		eng.KeepStateFrom(cur.eng) // unique-message-props memory survives the reload
	}
	old := r.cfg.Swap(&inUse{eng: eng, slice: sl})
	r.saveCache(sl)
	r.once.Do(func() { close(r.applied) })
	r.log.Info("config applied", "config_revision", sl.Revision, "routes", len(eng.Routes()))
	// Compiling a slice leaves megabytes of garbage; hand it back to the
	// host now rather than when the heap next grows (idle RSS matters on
	// every host of a fleet).
	go debug.FreeOSMemory()
	r.sendHeartbeat()
	if old != nil {
		r.retired.Retire(old.eng, time.Minute) // work in flight on it finishes first
	}
	r.pruneSlices()
	return nil
}

// olderThan reports whether sl is older than cur: revisions only grow
// within one epoch, and a new epoch (a controller whose counter may have
// restarted) makes them incomparable. A slice without an epoch is never
// called older, so a controller that sends none is always followed.
func olderThan(sl, cur *transport.Slice) bool {
	return sl.Epoch != "" && sl.Epoch == cur.Epoch && sl.Revision < cur.Revision
}

func (r *Runner) saveCache(sl *transport.Slice) {
	b, _ := json.Marshal(sl)
	if err := writeFileAtomic(r.cachePath(), b, 0o600); err != nil {
		r.log.Warn("cannot cache config", logx.Err(err))
	}
}

// compileSlice writes the slice into its own directory and loads it like any
// cfg.yaml, so the runner validates it with the same code as the controller.
func (r *Runner) compileSlice(ctx context.Context, sl *transport.Slice) (*engine.Engine, error) {
	if len(sl.Digest) < 16 {
		return nil, errors.New("slice has no digest")
	}
	root := filepath.Join(r.opts.Settings.StateDir, "slices")
	dir := filepath.Join(root, sl.Digest[:16])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	for name, content := range sl.Files {
		clean := filepath.Clean(name)
		if filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
			return nil, fmt.Errorf("slice file %q escapes the slice directory", name)
		}
		p := filepath.Join(dir, clean)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	cfgFile := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(cfgFile, []byte(sl.Config), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		return nil, err
	}
	name := r.opts.Settings.Name
	eng, err := engine.New(ctx, cfg, engine.Options{
		Registry: r.opts.Registry, Logger: r.log,
		Here: func(runsOn string) bool { return runsOn == name || runsOn == engine.Origin },
	})
	if err != nil {
		return nil, err
	}
	engine.LogWarnings(r.log, eng)
	return eng, nil
}

// pruneSlices removes the directories of slices no engine uses any more:
// a replaced engine still runs scripts from its own until it is closed.
func (r *Runner) pruneSlices() {
	keep := map[string]bool{}
	if e := r.Engine(); e != nil {
		keep[e.Config().Dir] = true
	}
	for _, e := range r.retired.Live() {
		keep[e.Config().Dir] = true
	}
	root := filepath.Join(r.opts.Settings.StateDir, "slices")
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if p := filepath.Join(root, e.Name()); !keep[p] {
			_ = os.RemoveAll(p)
		}
	}
}

func (r *Runner) heartbeat(ctx context.Context) {
	t := time.NewTicker(transport.HeartbeatInterval)
	defer t.Stop()
	r.sendHeartbeat()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.sendHeartbeat()
		}
	}
}

func (r *Runner) sendHeartbeat() {
	if r.nc == nil {
		return
	}
	st := transport.Status{
		Runner: r.opts.Settings.Name, Host: r.opts.Hostname, MachineID: r.opts.MachineID, Version: r.opts.Version,
		Spooled: r.spool.Pending(), Intake: r.intake, Time: time.Now(),
	}
	if c := r.cfg.Load(); c != nil {
		st.ConfigRevision, st.ConfigDigest = c.slice.Revision, c.slice.Digest
	}
	b, _ := json.Marshal(st)
	_ = r.nc.Publish(transport.Heartbeat(r.opts.Settings.Name), b)
}

// sendUp publishes one spooled envelope and waits for JetStream's ack; the
// event id is the message id, so a resend after a crash is dropped there.
func (r *Runner) sendUp(ctx context.Context, entry []byte) error {
	var env struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(entry, &env); err != nil {
		return &unsendableError{err: fmt.Errorf("unreadable spool entry: %w", err)}
	}
	if !r.nc.IsConnected() {
		return errors.New("controller unreachable")
	}
	msg := nats.NewMsg(transport.Up(r.opts.Settings.Name))
	msg.Data = entry
	msg.Header.Set(jetstream.MsgIDHeader, env.EventID)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := r.js.PublishMsg(ctx, msg)
	if tooLarge(err) {
		return &unsendableError{eventID: env.EventID, err: err}
	}
	return err
}

// tooLarge reports whether a publish failed for the message's size, which
// no retry changes: over the server's max payload (checked by the client,
// or refused by the server) or over the stream's largest message.
func tooLarge(err error) bool {
	return err != nil && (errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) ||
		strings.Contains(strings.ToLower(err.Error()), "maximum payload"))
}
