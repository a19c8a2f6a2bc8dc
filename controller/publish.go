package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/fsutil"
	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/jsstate"
)

// configState is the config revision in force. Alone, a controller counts
// its reloads (kept in the state directory). With runners, the revision is
// the fleet's, in ConfigBucket: a controller that loads a cfg.yaml other
// than the published one publishes it as the next revision (compare-and-
// set, so one of several controllers reloading at once wins) together with
// every runner's slice; the others converge on it, re-reading their own
// cfg.yaml, and say so when theirs differs.
type configState struct {
	stateDir string
	log      *slog.Logger
	engine   func() *engine.Engine
	digest   func() string // contentDigest of the config in use
	reread   func() bool   // loads cfg.yaml again; true when it is the published one now

	rev   atomic.Int64
	epoch atomic.Value // string: changes when revisions may restart
	live  atomic.Bool  // the revision at start is settled: follow others' publications

	mu      sync.Mutex
	applied int64 // guarded by mu: revision whose rollout was last logged complete
}

// published is ConfigBucket's entry.
type published struct {
	Revision int64     `json:"revision"`
	Digest   string    `json:"digest"` // contentDigest of the config
	Epoch    string    `json:"epoch"`
	By       string    `json:"by"` // the controller that published it
	At       time.Time `json:"at"`
}

const publishedKey = "published"

func (c *configState) revision() int64 { return c.rev.Load() }

func (c *configState) epochID() string {
	e, _ := c.epoch.Load().(string)
	return e
}

// The local revision (no runners) survives restarts in the state
// directory, so the numbers operators see only grow; it seeds the fleet's
// revision the first time too.
func (c *configState) revisionFile() string { return filepath.Join(c.stateDir, "revision") }

func (c *configState) loadLocal() int64 {
	b, err := os.ReadFile(c.revisionFile())
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// next moves the local revision on (a load or reload without runners).
func (c *configState) next() int64 {
	rev := c.rev.Add(1)
	if c.epochID() == "" {
		c.epoch.Store(engine.NewID()[:16])
	}
	err := os.MkdirAll(c.stateDir, 0o700)
	if err == nil {
		err = fsutil.WriteFileAtomic(c.revisionFile(), []byte(strconv.FormatInt(rev, 10)+"\n"), 0o600)
	}
	if err != nil {
		c.log.Warn("config revision not saved; it restarts from 1 next time", logx.Err(err))
	}
	return rev
}

// publishStartup publishes the config loaded at start when it is not the
// fleet's published one (or adopts it when it is), and every slice.
func (c *configState) publishStartup(ctx context.Context, f *fleet) error {
	_, err := c.publish(ctx, f)
	c.live.Store(err == nil)
	return err
}

// publish makes the loaded config the fleet's revision: it adopts the
// published revision when it is the same cfg.yaml, otherwise publishes the
// next one and the slices. It returns the revision in force.
func (c *configState) publish(ctx context.Context, f *fleet) (int64, error) {
	kv := f.bus.state.Config
	mine := c.digest()
	for {
		e, err := kv.Get(ctx, publishedKey)
		var cur published
		var rev uint64
		switch {
		case err == nil:
			rev = e.Revision()
			if json.Unmarshal(e.Value(), &cur) != nil {
				cur = published{}
			}
		case !notFoundKV(err):
			return 0, fmt.Errorf("published config: %w", err)
		}
		if cur.Digest == mine && cur.Revision > 0 {
			c.adopt(cur)
			f.publishSlices(ctx, false) // slices of runners not seen before
			f.setMismatch("")
			return cur.Revision, nil
		}
		next := published{Revision: max(cur.Revision, c.loadLocal()) + 1, Digest: mine, Epoch: cur.Epoch, By: f.d.ID, At: time.Now().UTC()}
		if next.Epoch == "" {
			next.Epoch = engine.NewID()[:16]
		}
		b, _ := json.Marshal(next)
		if rev == 0 {
			_, err = kv.Create(ctx, publishedKey, b)
		} else {
			_, err = kv.Update(ctx, publishedKey, b, rev)
		}
		if conflictKV(err) {
			continue // another controller published first: compare again
		}
		if err != nil {
			return 0, fmt.Errorf("publish config: %w", err)
		}
		c.adopt(next)
		f.publishSlices(ctx, true)
		f.setMismatch("")
		return next.Revision, nil
	}
}

func (c *configState) adopt(p published) {
	c.epoch.Store(p.Epoch)
	c.rev.Store(p.Revision)
	_ = fsutil.WriteFileAtomic(c.revisionFile(), []byte(strconv.FormatInt(p.Revision, 10)+"\n"), 0o600)
}

// onPublished follows the published revision once this controller has
// published or adopted its own at start: another controller's publication
// is adopted when this controller's config (read again) is the same, and
// reported when it differs.
func (c *configState) onPublished(f *fleet) func(jetstream.KeyValueEntry) {
	return func(e jetstream.KeyValueEntry) {
		var p published
		if !c.live.Load() || e.Key() != publishedKey || e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &p) != nil {
			return
		}
		if p.Revision <= c.revision() && p.Epoch == c.epochID() || p.By == f.d.ID {
			return // ours, or older
		}
		if p.Digest == c.digest() || c.reread() && p.Digest == c.digest() {
			c.adopt(p)
			f.setMismatch("")
			c.log.Info("config revision published by another controller adopted", "config_revision", p.Revision, "published_by", p.By)
			return
		}
		f.setMismatch(fmt.Sprintf("cfg.yaml differs from config revision %d published by %s", p.Revision, p.By))
		c.log.Warn("cfg.yaml differs from the fleet's published config revision; deploy the same files to every controller",
			"config_revision", p.Revision, "published_by", p.By)
	}
}

// noteApplied logs, once per revision, when every connected runner runs it.
func (c *configState) noteApplied(f *fleet) {
	n, current := f.counts()
	rev := c.revision()
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > 0 && current == n && c.applied != rev {
		c.applied = rev
		c.log.Info("config revision applied by every connected runner", "config_revision", rev, "runners", n)
	}
}

func (f *fleet) setMismatch(why string) {
	f.mu.Lock()
	f.mismatch = why
	f.mu.Unlock()
}

// sliceVersion is a slice as published, by content: runners whose slices
// have the same content share one encoding but for the name.
type sliceVersion struct {
	rev    int64
	digest string
}

// publishSlices stores every runner's slice at the revision in force (all
// of them, or only the runners that have none at this revision yet):
// runners follow their key and apply it within moments.
func (f *fleet) publishSlices(ctx context.Context, all bool) {
	eng, rev, epoch := f.d.Engine(), f.d.Config.revision(), f.d.Config.epochID()
	names := f.names()
	byShape := map[string]*transport.Slice{} // runners with the same actions get the same config
	var futures []jetstream.PubAckFuture
	for _, n := range names {
		f.mu.Lock()
		v := f.sliceSet[n]
		f.mu.Unlock()
		if !all && v != nil && v.rev == rev {
			continue
		}
		shape := runnerShape(eng, n)
		sl, ok := byShape[shape]
		if !ok {
			var err error
			if sl, err = buildSlice(eng, n, rev, epoch); err != nil {
				f.log.Error("config slice", "runner", n, logx.Err(err))
				continue
			}
			byShape[shape] = sl
		}
		mine := *sl
		mine.Runner = n
		b, _ := json.Marshal(&mine)
		fut, err := f.bus.js.PublishAsync(transport.CfgPush(n), b)
		if err != nil {
			f.log.Error("publish config slice", "runner", n, logx.Err(err))
			continue
		}
		futures = append(futures, fut)
		f.mu.Lock()
		f.sliceSet[n] = &sliceVersion{rev: rev, digest: sl.Digest}
		f.mu.Unlock()
	}
	select {
	case <-f.bus.js.PublishAsyncComplete():
	case <-ctx.Done():
	case <-time.After(f.d.Timings.SlicesStore):
		f.log.Warn("config slices not all stored in time", "waited", f.d.Timings.SlicesStore)
	}
	for _, fut := range futures {
		select {
		case err := <-fut.Err():
			f.log.Error("config slice not stored", "subject", fut.Msg().Subject, logx.Err(err))
		default:
		}
	}
}

// ensureSlice stores runner's slice when it has none at this revision (a
// runner seen for the first time).
func (f *fleet) ensureSlice(ctx context.Context, runner string) {
	f.mu.Lock()
	v := f.sliceSet[runner]
	f.mu.Unlock()
	if v != nil && v.rev == f.d.Config.revision() {
		return
	}
	sl, err := buildSlice(f.d.Engine(), runner, f.d.Config.revision(), f.d.Config.epochID())
	if err != nil {
		f.log.Error("config slice", "runner", runner, logx.Err(err))
		return
	}
	b, _ := json.Marshal(sl)
	if _, err := f.bus.state.Slices.Put(ctx, runner, b); err != nil {
		f.log.Error("config slice not stored", "runner", runner, logx.Err(err))
		return
	}
	f.mu.Lock()
	f.sliceSet[runner] = &sliceVersion{rev: sl.Revision, digest: sl.Digest}
	f.mu.Unlock()
}

// onCfgGet answers a runner asking for its slice (its key in the bucket
// was missing or unreadable): the answer, and the bucket, get it.
func (f *fleet) onCfgGet(m *nats.Msg) {
	var req transport.CfgRequest
	runner, err := transport.Decode(m.Subject, m.Data, &req, func() string { return req.Runner })
	if err != nil {
		f.refuse("config request", runner, err)
		return
	}
	if !transport.ReplyAllowed(m.Reply) {
		f.log.Warn("config request with a reply subject outside the runners' import refused", "runner", runner, "reply", m.Reply)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.d.Timings.Request)
	defer cancel()
	f.ensureSlice(ctx, runner)
	e, err := f.bus.state.Slices.Get(ctx, runner)
	if err != nil {
		f.log.Error("config slice", "runner", runner, logx.Err(err))
		return
	}
	_ = m.Respond(e.Value())
}

// contentDigest names a config by everything it is made of: cfg.yaml, the
// routes' input files and the Rego templates as the engine compiled them
// (a url template's text as fetched), and the files its actions read
// relative to it. Two controllers with the same content publish the same
// revision; a reload that changed only a template is a new revision.
func contentDigest(eng *engine.Engine) string {
	cfg := eng.Config()
	h := sha256.New()
	add := func(name, text string) {
		fmt.Fprintf(h, "%s %d\n", name, len(text))
		h.Write([]byte(text))
	}
	addFile := func(path string) {
		b, _ := os.ReadFile(path)
		add(path, string(b))
	}
	addFile(cfg.File)
	for i := range cfg.Routes {
		for _, s := range eng.InputSources(i) {
			add(s.Module, s.Text)
		}
	}
	for _, t := range cfg.Templates {
		own, reached, _ := eng.TemplateSources(t.Name)
		for _, s := range append([]engine.Source{own}, reached...) {
			add(s.Module, s.Text)
		}
	}
	for _, a := range cfg.Actions {
		for _, p := range relativeFiles(a) {
			addFile(filepath.Join(cfg.Dir, p))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func notFoundKV(err error) bool { return jsstate.NotFound(err) }
func conflictKV(err error) bool { return jsstate.Conflict(err) }

// runnerShape says which steps of the config a runner's slice holds:
// runners that only share @origin actions get the same slice content.
func runnerShape(eng *engine.Engine, runner string) string {
	var b strings.Builder
	for i, r := range eng.Routes() {
		for _, s := range r.Steps {
			if s.RunsOn == runner {
				return "runner:" + runner // it is named: its own content
			}
			if s.RunsOn == engine.Origin {
				fmt.Fprintf(&b, "%d/%s;", i, s.Action)
			}
		}
	}
	return "origin:" + b.String()
}
