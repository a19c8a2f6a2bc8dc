// Package fleetsim simulates a fleet of runners against real controllers:
// one posteed-controller with its embedded NATS server, or two sharing a
// 3-node nats-server cluster (external mode). Each simulated runner has
// its own client certificate and NATS connection, reads its slice, sends
// heartbeats and takes its work with postee-runner's own code
// (agent/runner's channel functions); it neither compiles its slice nor
// runs actions. Run measures how long a reload takes to reach every
// runner, the controllers' memory and CPU with the fleet connected, the
// heartbeat load, the dispatch latency (event posted → runner reported the
// job done), and collects what went wrong on the way.
package fleetsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/postee-fleet/posteed/agent/pki"
	"github.com/postee-fleet/posteed/agent/transport"
)

// Options configure a run.
type Options struct {
	Topology      string // "embedded" or "cluster"
	N             int    // simulated runners
	ControllerBin string // posteed-controller
	// NATSServerBin is the nats-server of the cluster topology ("": built
	// by natsdtest, or $POSTEED_NATS_SERVER).
	NATSServerBin string
	Dir           string // work directory ("": a temporary one, removed)
	Keep          bool   // keep Dir's files (logs, stores) when it is temporary
	// ConnectRate bounds how many runners start connecting per second.
	ConnectRate float64
	// ReadyTimeout bounds the wait for the fleet to be connected, configured
	// and consuming (0: 3 minutes past the connect phase).
	ReadyTimeout time.Duration
	Settle       time.Duration // after ready, before the idle window
	Idle         time.Duration // the idle window measured
	Events       int           // events posted for the dispatch latency
	EventRate    float64       // events posted per second
	Reloads      int           // reloads measured
	Heartbeat    time.Duration // 0: the runner's (transport.HeartbeatInterval)
	Baseline     time.Duration // the daemons measured before runners connect (0: 3 s)
	// ControllerMemoryLimit is the controllers' --memory-limit ("": auto,
	// which outside a systemd unit is none; posteed-controller.service's
	// limits make it 1228MiB).
	ControllerMemoryLimit string
	Progress              io.Writer // progress lines (nil: none)
	Seed                  uint64    // picks the events' runners
}

func (o Options) withDefaults() Options {
	if o.Topology == "" {
		o.Topology = "embedded"
	}
	if o.ConnectRate <= 0 {
		o.ConnectRate = 200
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 3*time.Minute + time.Duration(float64(o.N)/o.ConnectRate*float64(time.Second))
	}
	if o.Settle < 0 {
		o.Settle = 0
	}
	if o.Idle <= 0 {
		o.Idle = 30 * time.Second
	}
	if o.EventRate <= 0 {
		o.EventRate = 20
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = transport.HeartbeatInterval
	}
	if o.Baseline <= 0 {
		o.Baseline = 3 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// sim is one run.
type sim struct {
	o     Options
	dir   string
	start time.Time
	res   *Result
	fleet *fleet

	caFile, srvCert, srvKey string
	ctls                    []*controllerProc
	cluster                 *natsCluster
	runnerURL               string
	runners                 []*simRunner
	cancelRunners           context.CancelFunc
	atStart                 map[string]int // controllers' problems before any runner connected
}

// Run runs the simulation and reports what it measured. An error is a
// simulation that could not run (a daemon did not start); what broke in
// the product while it ran is in the Result.
func Run(ctx context.Context, o Options) (*Result, error) {
	o = o.withDefaults()
	if o.N <= 0 {
		return nil, errors.New("fleetsim: N must be positive")
	}
	if o.Topology != "embedded" && o.Topology != "cluster" {
		return nil, fmt.Errorf("fleetsim: topology %q: embedded or cluster", o.Topology)
	}
	if o.ControllerBin == "" {
		return nil, errors.New("fleetsim: the posteed-controller binary is not set")
	}
	s := &sim{o: o, start: time.Now(), fleet: newFleet(o.Heartbeat)}
	s.res = &Result{Topology: o.Topology, N: o.N, ConnectRate: o.ConnectRate, Heartbeat: o.Heartbeat.String(), MemoryLimit: o.ControllerMemoryLimit,
		LoadBefore: loadavg(), Started: s.start.UTC().Format(time.RFC3339)}
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "posteed-fleetsim-"); err != nil {
			return nil, err
		}
		if !o.Keep {
			defer os.RemoveAll(dir)
		}
	}
	s.dir = mustAbs(dir)
	s.res.Dir = s.dir
	defer s.teardown()
	if err := s.setup(ctx); err != nil {
		return s.res, err
	}
	s.phase(ctx, "connect", s.connect)
	s.phase(ctx, "idle", s.idle)
	s.phase(ctx, "dispatch", s.dispatch)
	s.phase(ctx, "reload", s.reload)
	s.finish()
	return s.res, nil
}

func (s *sim) progress(format string, args ...any) {
	fmt.Fprintf(s.o.Progress, "%7.1fs %s %d: %s\n", time.Since(s.start).Seconds(), s.o.Topology, s.o.N, fmt.Sprintf(format, args...))
}

// phase runs one measurement; a controller that died ends the run's
// measurements (and is reported).
func (s *sim) phase(ctx context.Context, name string, fn func(context.Context) error) {
	if ctx.Err() != nil || s.res.Aborted != "" {
		return
	}
	s.progress("%s", name)
	if err := fn(ctx); err != nil {
		s.res.Aborted = fmt.Sprintf("%s: %v", name, err)
		s.progress("aborted: %s", s.res.Aborted)
	}
	for _, c := range s.ctls {
		if c.exited() && s.res.Aborted == "" {
			s.res.Aborted = fmt.Sprintf("%s: %s exited: %v", name, c.Name, c.err)
		}
	}
}

// setup makes the certificates, starts the daemons and measures them
// before any runner connects.
func (s *sim) setup(ctx context.Context) error {
	t0 := time.Now()
	if err := s.certificates(); err != nil {
		return err
	}
	s.progress("%d runner certificates in %.1fs", s.o.N, time.Since(t0).Seconds())
	if err := writeCfg(s.cfgFile(), 1); err != nil {
		return err
	}
	var err error
	if s.o.Topology == "embedded" {
		err = s.startEmbedded(ctx)
	} else {
		err = s.startCluster(ctx)
	}
	if err != nil {
		return err
	}
	s.progress("daemons up in %.1fs; baseline", time.Since(t0).Seconds())
	a := s.sample()
	time.Sleep(s.o.Baseline)
	b := s.sample()
	s.atStart = map[string]int{}
	for _, c := range s.ctls {
		for _, p := range c.logs.problems() {
			s.atStart[c.Name+": "+p.What] = p.Count
		}
	}
	if s.cluster != nil {
		for _, p := range s.cluster.problems() {
			s.atStart["nats: "+p.What] = p.Count
		}
	}
	for _, p := range s.procs() {
		s.res.Procs = append(s.res.Procs, &ProcResult{Name: p.Name, BaseRSSMiB: mib(b[p.Name].RSS), BaseCPU: cpuShare(a[p.Name], b[p.Name])})
	}
	return nil
}

func (s *sim) cfgFile() string { return filepath.Join(s.dir, "etc", "cfg.yaml") }

// writeCfg writes the fleet's cfg.yaml: every event naming a host goes to
// an exec action on that host's runner (@origin: every runner has it in
// its slice). version changes the script, so a reload makes a new slice
// for every runner.
func writeCfg(file string, version int) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`name: fleet-sim
routes:
- name: on-origin
  input: input.SigMetadata.ID == "SIM-1"
  actions: [note]
  template: raw-json
templates:
- name: raw-json
  rego-package: postee.rawmessage.json
actions:
- name: note
  type: exec
  enable: true
  runs-on: "@origin"
  exec-script: |
    #!/bin/sh
    echo "fleet-sim config %d: $POSTEE_EVENT_ID" >/dev/null
`, version)
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// runnerName is the i-th runner's name; its certificate names host
// runnerHost(i), the host events name for it.
func runnerName(i int) string { return fmt.Sprintf("sim-%05d", i) }

func runnerHost(i int) string { return fmt.Sprintf("host-%05d", i) }

func (s *sim) runnerCert(i int) (string, string) {
	base := filepath.Join(s.dir, "certs", "runners", pki.Client.String()+"-"+runnerName(i))
	return base + ".crt", base + ".key"
}

// certificates makes a CA, the controller's (and servers') certificate and
// one client certificate per runner.
func (s *sim) certificates() error {
	dir := filepath.Join(s.dir, "certs")
	ca, err := pki.NewCA("posteed fleetsim CA")
	if err != nil {
		return err
	}
	if err := pki.WriteCA(dir, ca); err != nil {
		return err
	}
	s.caFile = filepath.Join(dir, pki.CACertFile)
	crt, key, err := ca.Issue(pki.Server, "localhost", []string{"localhost", "127.0.0.1"}, 7*24*time.Hour)
	if err != nil {
		return err
	}
	if err := pki.WritePair(dir, "controller", crt, key); err != nil {
		return err
	}
	s.srvCert, s.srvKey = filepath.Join(dir, "controller.crt"), filepath.Join(dir, "controller.key")
	rdir := filepath.Join(dir, "runners")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	next := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				crt, key, err := ca.Issue(pki.Client, runnerName(i), []string{runnerHost(i)}, 7*24*time.Hour)
				if err == nil {
					err = pki.WritePair(rdir, pki.Client.String()+"-"+runnerName(i), crt, key)
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range s.o.N {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// procs are the processes measured: the controllers, then the servers.
func (s *sim) procs() []*process {
	var out []*process
	for _, c := range s.ctls {
		out = append(out, c.process)
	}
	if s.cluster != nil {
		out = append(out, s.cluster.procs...)
	}
	return out
}

func (s *sim) sample() map[string]procSample {
	out := map[string]procSample{}
	for _, p := range s.procs() {
		if ps, err := readProc(p.Pid); err == nil {
			out[p.Name] = ps
		}
	}
	if ps, err := readProc(os.Getpid()); err == nil {
		out["fleetsim"] = ps
	}
	return out
}

// connect starts the runners at the connect rate and waits until every
// one is connected, has its slice and consumes its work queue, and the
// controllers' registry holds them all.
func (s *sim) connect(ctx context.Context) error {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancelRunners = cancel
	log := &countHandler{w: s.fleet.log}
	t0 := time.Now()
	every := time.Duration(float64(time.Second) / s.o.ConnectRate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var startErrs atomic.Int64
	var mon monitor
	mon.start(s, 5*time.Second)
	defer mon.stop()
	// Paced, and a bounded number of handshakes in flight at once: a
	// server slow to answer slows the start without a pile of thousands
	// of pending handshakes (the paced rate is what the sim offers, the
	// connected count what the server managed).
	inflight := make(chan struct{}, 64)
	var starting sync.WaitGroup
	var mu sync.Mutex
	for i := range s.o.N {
		if i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		inflight <- struct{}{}
		r := &simRunner{fleet: s.fleet, name: runnerName(i), host: runnerHost(i), applied: make(chan struct{})}
		r.log = newSlogger(log).With("runner", r.name)
		starting.Go(func() {
			defer func() { <-inflight }()
			crt, key := s.runnerCert(i)
			if err := r.start(rctx, crt, key, s.caFile, s.runnerURL); err != nil {
				startErrs.Add(1)
				log.w.mu.Lock()
				log.w.counts["ERROR runner not started: "+normalize(err.Error())]++
				log.w.mu.Unlock()
				return
			}
			mu.Lock()
			s.runners = append(s.runners, r)
			mu.Unlock()
		})
	}
	starting.Wait()
	s.res.Connect.Started = time.Since(t0).Seconds()
	s.progress("%d runners started in %.1fs (%d failed to start)", len(s.runners), s.res.Connect.Started, startErrs.Load())
	deadline := time.Now().Add(s.o.ReadyTimeout)
	var reg registryView
	nextReg := time.Now()
	for {
		n := int64(s.o.N)
		conn, sliced, cons := s.fleet.connected.Load(), s.fleet.withSlice.Load(), s.fleet.consuming.Load()
		if s.res.Connect.AllConnected == 0 && conn >= n {
			s.res.Connect.AllConnected = time.Since(t0).Seconds()
		}
		if s.res.Connect.AllApplied == 0 && sliced >= n {
			s.res.Connect.AllApplied = time.Since(t0).Seconds()
		}
		if s.res.Connect.AllConsuming == 0 && cons >= n {
			s.res.Connect.AllConsuming = time.Since(t0).Seconds()
		}
		if time.Now().After(nextReg) {
			reg = s.registry(ctx)
			nextReg = time.Now().Add(min(max(time.Duration(s.o.N)*time.Second/2000, time.Second), 5*time.Second))
			if reg.err == nil && s.res.Connect.AllRegistered == 0 && reg.connected >= s.o.N && reg.current >= s.o.N {
				s.res.Connect.AllRegistered = time.Since(t0).Seconds()
			}
		}
		c := &s.res.Connect
		if c.AllConnected > 0 && c.AllApplied > 0 && c.AllConsuming > 0 && c.AllRegistered > 0 {
			c.Ready = time.Since(t0).Seconds()
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil || s.controllerDied() {
			c.NotReady = fmt.Sprintf("after %.0fs: %d/%d connected, %d with a slice, %d consuming work; controller registry: %d connected, %d on the current revision, %d pending work (%v)",
				time.Since(t0).Seconds(), conn, n, sliced, cons, reg.connected, reg.current, reg.pending, reg.err)
			s.progress("NOT READY: %s", c.NotReady)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.res.Connect.Connected, s.res.Connect.WithSlice, s.res.Connect.Consuming = int(s.fleet.connected.Load()), int(s.fleet.withSlice.Load()), int(s.fleet.consuming.Load())
	s.res.Connect.Fetches = int(s.fleet.fetches.Load())
	s.res.Connect.Peak = mon.peaks()
	s.progress("ready in %.1fs (connected %.1fs, slices %.1fs, consuming %.1fs, registry %.1fs)", s.res.Connect.Ready,
		s.res.Connect.AllConnected, s.res.Connect.AllApplied, s.res.Connect.AllConsuming, s.res.Connect.AllRegistered)
	return nil
}

func (s *sim) controllerDied() bool {
	for _, c := range s.ctls {
		if c.exited() {
			return true
		}
	}
	return false
}

// idle measures the connected fleet doing nothing but heartbeats and
// pulls.
func (s *sim) idle(ctx context.Context) error {
	select {
	case <-time.After(s.o.Settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	in0, out0 := s.msgStats()
	hb0 := s.fleet.heartbeats.Load()
	a := s.sample()
	select {
	case <-time.After(s.o.Idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	b := s.sample()
	in1, out1 := s.msgStats()
	hb1 := s.fleet.heartbeats.Load()
	secs := b["fleetsim"].At.Sub(a["fleetsim"].At).Seconds()
	id := &s.res.Idle
	id.Seconds = secs
	id.HeartbeatsPerSec = float64(hb1-hb0) / secs
	id.RunnerOutMsgsPerSec = float64(out1-out0) / secs
	id.RunnerInMsgsPerSec = float64(in1-in0) / secs
	id.SimCPU = cpuShare(a["fleetsim"], b["fleetsim"])
	id.SimRSSMiB = mib(b["fleetsim"].RSS)
	for _, p := range s.res.Procs {
		pa, pb := a[p.Name], b[p.Name]
		p.IdleCPU = cpuShare(pa, pb)
		p.IdleRSSMiB = mib(pb.RSS)
		p.FDs, p.FDLimit, p.Threads = pb.FDs, pb.FDLimit, pb.Threads
	}
	for i, c := range s.ctls {
		s.res.Procs[i].HeapLiveMB, s.res.Procs[i].HeapGoalMB = c.logs.lastHeap()
	}
	s.progress("idle %.0fs: %s", secs, s.res.idleLine())
	return nil
}

// msgStats are the messages all runner connections received and sent.
func (s *sim) msgStats() (in, out uint64) {
	for _, r := range s.runners {
		st := r.nc.Stats()
		in += st.InMsgs
		out += st.OutMsgs
	}
	return in, out
}

// dispatch posts events naming runners' hosts, paced, alternating between
// the controllers, and measures each from its post to its runner's report.
func (s *sim) dispatch(ctx context.Context) error {
	if s.o.Events <= 0 || len(s.runners) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(s.o.Seed, 7))
	every := time.Duration(float64(time.Second) / s.o.EventRate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var ids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	warm := min(10, s.o.Events/10)
	postErrs := map[string]int{}
	for i := range s.o.Events + warm {
		if i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		r := s.runners[rng.IntN(len(s.runners))]
		ctl := s.ctls[i%len(s.ctls)]
		wg.Go(func() {
			body := fmt.Sprintf(`{"SigMetadata":{"ID":"SIM-1","Name":"fleet sim"},"hostName":%q,"seq":%d}`, r.host, i)
			t0 := time.Now()
			id, err := ctl.post(ctx, body)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				postErrs[normalize(err.Error())]++
				return
			}
			s.fleet.posting(id, r.name, t0)
			if i >= warm {
				ids = append(ids, id)
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, missing := s.fleet.latencies(ids)
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	lat, missing := s.fleet.latencies(ids)
	d := &s.res.Dispatch
	d.Posted, d.Missing = len(ids), missing
	for e, n := range postErrs {
		d.PostErrors = append(d.PostErrors, fmt.Sprintf("%d× %s", n, e))
	}
	s.fleet.mu.Lock()
	d.WrongRunner = s.fleet.wrongJob
	s.fleet.mu.Unlock()
	if len(lat) > 0 {
		q := func(p float64) float64 { return ms(lat[int(p*float64(len(lat)-1))]) }
		d.P50, d.P90, d.P99, d.Max = q(0.5), q(0.9), q(0.99), ms(lat[len(lat)-1])
	}
	s.progress("dispatch: %d events at %.0f/s: p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d missing", d.Posted, s.o.EventRate, d.P50, d.P99, d.Max, d.Missing)
	return nil
}

// reload edits cfg.yaml, sends SIGHUP to the first controller and waits
// until every runner applied the new revision.
func (s *sim) reload(ctx context.Context) error {
	for k := range s.o.Reloads {
		rev := s.fleet.maxRevision() + 1
		var reloaded, everyone []<-chan time.Time
		for _, c := range s.ctls {
			reloaded = append(reloaded, c.logs.await(func(msg string, a map[string]string) bool {
				return msg == "config reloaded" && a["config_revision"] == fmt.Sprint(rev)
			}))
			everyone = append(everyone, c.logs.await(func(msg string, a map[string]string) bool {
				return msg == "config revision applied by every connected runner" && a["config_revision"] == fmt.Sprint(rev)
			}))
		}
		if err := writeCfg(s.cfgFile(), int(rev)); err != nil {
			return err
		}
		a := s.sample()
		t0 := time.Now()
		if err := s.ctls[0].signal(syscall.SIGHUP); err != nil {
			return err
		}
		rr := ReloadResult{Revision: rev}
		deadline := t0.Add(reloadWait)
		for {
			n, _, _ := s.fleet.applied(rev)
			if n >= len(s.runners) {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				rr.NotReached = len(s.runners) - n
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		n, last, times := s.fleet.applied(rev)
		rr.Reached = n
		if n > 0 {
			rr.AllRunners = last.Sub(t0).Seconds()
		}
		if len(times) > 0 {
			durs := make([]time.Duration, len(times))
			for i, t := range times {
				durs[i] = t.Sub(t0)
			}
			sortDurations(durs)
			rr.P50 = durs[len(durs)/2].Seconds()
		}
		rr.Reloaded = firstOf(reloaded, t0, reloadWait)
		rr.ControllerSawAll = firstOf(everyone, t0, reloadWait)
		b := s.sample()
		rr.ControllerCPUSeconds = (b[s.ctls[0].Name].CPU - a[s.ctls[0].Name].CPU).Seconds()
		s.res.Reloads = append(s.res.Reloads, rr)
		s.progress("reload to revision %d: %d/%d runners in %.3fs (p50 %.3fs); controller: reloaded %.3fs, saw every runner on it %.3fs",
			rev, rr.Reached, len(s.runners), rr.AllRunners, rr.P50, rr.Reloaded, rr.ControllerSawAll)
		if k+1 < s.o.Reloads {
			time.Sleep(max(s.o.Settle, 2*time.Second))
		}
	}
	return nil
}

// reloadWait bounds the wait for a reload to reach the runners (and for
// the controllers to log it).
const reloadWait = 60 * time.Second

// firstOf is when the first channel heard, in seconds after t0 (-1: none
// within wait). Each channel hears once and keeps what it heard.
func firstOf(chs []<-chan time.Time, t0 time.Time, wait time.Duration) float64 {
	for {
		for _, ch := range chs {
			select {
			case t := <-ch:
				return t.Sub(t0).Seconds()
			default:
			}
		}
		if time.Since(t0) > wait {
			return -1
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finish collects the peaks and the problems every side logged.
func (s *sim) finish() {
	end := s.sample()
	for _, p := range s.res.Procs {
		p.PeakRSSMiB = mib(end[p.Name].HWM)
	}
	s.res.SimPeakRSSMiB = mib(end["fleetsim"].HWM)
	s.res.Disconnects = int(s.fleet.disconnects.Load())
	s.res.RunnerProblems = s.fleet.log.problems()
	for _, c := range s.ctls {
		for _, p := range c.logs.problems() {
			p.What = c.Name + ": " + p.What
			if n := s.atStart[p.What]; n > 0 {
				s.res.StartProblems = append(s.res.StartProblems, problem{What: p.What, Count: n, Example: p.Example})
				if p.Count -= n; p.Count == 0 {
					continue
				}
			}
			s.res.ControllerProblems = append(s.res.ControllerProblems, p)
		}
	}
	if s.cluster != nil {
		for _, p := range s.cluster.problems() {
			if n := s.atStart["nats: "+p.What]; n > 0 {
				s.res.StartProblems = append(s.res.StartProblems, problem{What: "nats-servers: " + p.What, Count: n, Example: p.Example})
				if p.Count -= n; p.Count == 0 {
					continue
				}
			}
			s.res.ServerProblems = append(s.res.ServerProblems, p)
		}
	}
	s.res.LoadAfter = loadavg()
}

// teardown stops the runners and the daemons.
func (s *sim) teardown() {
	if s.cancelRunners != nil {
		s.cancelRunners()
	}
	var wg sync.WaitGroup
	next := make(chan *simRunner)
	for range 16 {
		wg.Go(func() {
			for r := range next {
				r.stop()
			}
		})
	}
	for _, r := range s.runners {
		next <- r
	}
	close(next)
	wg.Wait()
	for _, c := range s.ctls {
		c.stop(30 * time.Second)
	}
	if s.cluster != nil {
		s.cluster.close()
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
