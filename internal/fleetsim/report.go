package fleetsim

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Result is what a run measured. Times are in seconds, latencies in
// milliseconds, CPU in percent of one core.
type Result struct {
	Topology    string  `json:"topology"`
	N           int     `json:"n"`
	ConnectRate float64 `json:"connect_rate"`
	Heartbeat   string  `json:"heartbeat"`
	MemoryLimit string  `json:"controller_memory_limit,omitempty"`
	Started     string  `json:"started"`
	Dir         string  `json:"dir"`
	LoadBefore  string  `json:"load_before"`
	LoadAfter   string  `json:"load_after"`
	// Aborted says why measuring stopped early (a controller died, …).
	Aborted string `json:"aborted,omitempty"`

	Connect  ConnectResult  `json:"connect"`
	Idle     IdleResult     `json:"idle"`
	Dispatch DispatchResult `json:"dispatch"`
	Reloads  []ReloadResult `json:"reloads"`
	Procs    []*ProcResult  `json:"procs"`

	SimPeakRSSMiB  float64   `json:"sim_peak_rss_mib"`
	Disconnects    int       `json:"disconnects"`
	RunnerProblems []problem `json:"runner_problems"`
	// StartProblems are what the controllers logged before any runner
	// connected (left out of ControllerProblems).
	StartProblems      []problem `json:"start_problems,omitempty"`
	ControllerProblems []problem `json:"controller_problems"`
	ServerProblems     []problem `json:"server_problems,omitempty"`
}

// ConnectResult: seconds from the first runner's start until every runner
// was connected, had applied its slice, consumed its work queue, and the
// controller's registry held them all connected on the current revision.
type ConnectResult struct {
	Started       float64 `json:"started"`
	AllConnected  float64 `json:"all_connected"`
	AllApplied    float64 `json:"all_applied"`
	AllConsuming  float64 `json:"all_consuming"`
	AllRegistered float64 `json:"all_registered"`
	Ready         float64 `json:"ready"`
	NotReady      string  `json:"not_ready,omitempty"`
	Connected     int     `json:"connected"`
	WithSlice     int     `json:"with_slice"`
	Consuming     int     `json:"consuming"`
	Fetches       int     `json:"slice_fetches"`
	// Peak is the busiest 5 s of each process while the fleet connected.
	Peak map[string]string `json:"peak"`
}

// IdleResult is the connected fleet doing nothing but heartbeats.
type IdleResult struct {
	Seconds             float64 `json:"seconds"`
	HeartbeatsPerSec    float64 `json:"heartbeats_per_sec"`
	RunnerOutMsgsPerSec float64 `json:"runner_out_msgs_per_sec"` // all runners → NATS
	RunnerInMsgsPerSec  float64 `json:"runner_in_msgs_per_sec"`  // NATS → all runners
	SimCPU              float64 `json:"sim_cpu"`
	SimRSSMiB           float64 `json:"sim_rss_mib"`
}

// DispatchResult: event posted to a controller → its runner reported the
// job done (after JetStream confirmed the ack).
type DispatchResult struct {
	Posted      int      `json:"posted"`
	Missing     int      `json:"missing"`
	WrongRunner int      `json:"wrong_runner"`
	PostErrors  []string `json:"post_errors,omitempty"`
	P50         float64  `json:"p50_ms"`
	P90         float64  `json:"p90_ms"`
	P99         float64  `json:"p99_ms"`
	Max         float64  `json:"max_ms"`
}

// ReloadResult: SIGHUP → …
type ReloadResult struct {
	Revision   int64   `json:"revision"`
	Reached    int     `json:"reached"`
	NotReached int     `json:"not_reached,omitempty"`
	AllRunners float64 `json:"all_runners"` // … the last runner applied the revision (the last of those reached, when not all were)
	P50        float64 `json:"p50"`         // … half of them had
	Reloaded   float64 `json:"reloaded"`    // … the controller logged "config reloaded" (-1: never)
	// ControllerSawAll: … a controller logged every connected runner on
	// the revision (-1: not within a minute).
	ControllerSawAll     float64 `json:"controller_saw_all"`
	ControllerCPUSeconds float64 `json:"controller_cpu_seconds"`
}

// ProcResult is one daemon's figures.
type ProcResult struct {
	Name       string  `json:"name"`
	BaseRSSMiB float64 `json:"base_rss_mib"` // before any runner
	BaseCPU    float64 `json:"base_cpu"`
	IdleRSSMiB float64 `json:"idle_rss_mib"` // the fleet connected, idle
	IdleCPU    float64 `json:"idle_cpu"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// HeapLiveMB and HeapGoalMB: the Go heap after the last collection
	// during the idle window, and the size that triggers the next (the
	// controller runs with GOGC=400). Controllers only.
	HeapLiveMB int   `json:"heap_live_mb,omitempty"`
	HeapGoalMB int   `json:"heap_goal_mb,omitempty"`
	FDs        int   `json:"fds"`
	FDLimit    int64 `json:"fd_limit"`
	Threads    int   `json:"threads"`
}

func (r *Result) controllers() []*ProcResult {
	var out []*ProcResult
	for _, p := range r.Procs {
		if strings.HasPrefix(p.Name, "controller") {
			out = append(out, p)
		}
	}
	return out
}

func (r *Result) servers() []*ProcResult {
	var out []*ProcResult
	for _, p := range r.Procs {
		if strings.HasPrefix(p.Name, "nats-server") {
			out = append(out, p)
		}
	}
	return out
}

func (r *Result) idleLine() string {
	var parts []string
	for _, p := range r.Procs {
		parts = append(parts, fmt.Sprintf("%s %.0f MiB %.1f%% CPU %d fds", p.Name, p.IdleRSSMiB, p.IdleCPU, p.FDs))
	}
	parts = append(parts, fmt.Sprintf("heartbeats %.0f/s, runner msgs out %.0f/s in %.0f/s, sim %.1f%% CPU %.0f MiB",
		r.Idle.HeartbeatsPerSec, r.Idle.RunnerOutMsgsPerSec, r.Idle.RunnerInMsgsPerSec, r.Idle.SimCPU, r.Idle.SimRSSMiB))
	return strings.Join(parts, "; ")
}

// TableHeader is the header of the Markdown table Row writes.
const TableHeader = `| topology | N | ready (s) | reload → all N (s) | reload → controller saw all (s) | controller RSS idle (MiB) | RSS / 1,000 runners (MiB) | controller CPU idle | CPU / 1,000 runners | heartbeats / NATS msgs per s | dispatch p50 / p99 (ms) | what broke | load before → after |
|---|---|---|---|---|---|---|---|---|---|---|---|---|`

// Row is the run as a row of TableHeader's table. On a cluster the
// controller columns add both controllers, and the servers follow.
func (r *Result) Row() string {
	k := float64(r.N) / 1000
	ctl, srv := r.controllers(), r.servers()
	sum := func(ps []*ProcResult, f func(*ProcResult) float64) float64 {
		t := 0.0
		for _, p := range ps {
			t += f(p)
		}
		return t
	}
	idleRSS := func(p *ProcResult) float64 { return p.IdleRSSMiB }
	grow := func(p *ProcResult) float64 { return p.IdleRSSMiB - p.BaseRSSMiB }
	cpu := func(p *ProcResult) float64 { return p.IdleCPU }
	rss := fmt.Sprintf("%.0f", sum(ctl, idleRSS))
	if heap := sum(ctl, func(p *ProcResult) float64 { return float64(p.HeapLiveMB) }); heap > 0 {
		rss += fmt.Sprintf(" (Go heap live %.0f MB)", heap)
	}
	perK := fmt.Sprintf("%.1f", sum(ctl, grow)/k)
	cpuCell := fmt.Sprintf("%.1f%%", sum(ctl, cpu))
	cpuK := fmt.Sprintf("%.2f%%", sum(ctl, cpu)/k)
	if len(srv) > 0 {
		rss += fmt.Sprintf(" (2 ctl) + %.0f (3 servers)", sum(srv, idleRSS))
		perK += fmt.Sprintf(" + %.1f", sum(srv, grow)/k)
		cpuCell += fmt.Sprintf(" + %.1f%%", sum(srv, cpu))
		cpuK += fmt.Sprintf(" + %.2f%%", sum(srv, cpu)/k)
	}
	ready := fmt.Sprintf("%.1f", r.Connect.Ready)
	if r.Connect.NotReady != "" {
		ready = "not ready"
	}
	reload, saw := "–", "–"
	if len(r.Reloads) > 0 {
		var a, b []string
		for _, rl := range r.Reloads {
			if rl.NotReached > 0 {
				a = append(a, fmt.Sprintf("%d/%d in %.0f", rl.Reached, rl.Reached+rl.NotReached, reloadWait.Seconds()))
			} else {
				a = append(a, fmt.Sprintf("%.2f", rl.AllRunners))
			}
			if rl.ControllerSawAll < 0 {
				b = append(b, fmt.Sprintf(">%.0f", reloadWait.Seconds()))
			} else {
				b = append(b, fmt.Sprintf("%.2f", rl.ControllerSawAll))
			}
		}
		reload, saw = strings.Join(a, ", "), strings.Join(b, ", ")
	}
	disp := "–"
	if r.Dispatch.Posted > 0 {
		disp = fmt.Sprintf("%.1f / %.1f", r.Dispatch.P50, r.Dispatch.P99)
		if r.Dispatch.Missing > 0 {
			disp += fmt.Sprintf(" (%d of %d lost)", r.Dispatch.Missing, r.Dispatch.Posted)
		}
	}
	return fmt.Sprintf("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %.0f / %.0f | %s | %s | %s → %s |",
		r.Topology, r.N, ready, reload, saw, rss, perK, cpuCell, cpuK,
		r.Idle.HeartbeatsPerSec, r.Idle.RunnerOutMsgsPerSec+r.Idle.RunnerInMsgsPerSec, disp, r.broke(), r.LoadBefore, r.LoadAfter)
}

// broke is the first thing that went wrong, in a few words.
func (r *Result) broke() string {
	var out []string
	if r.Aborted != "" {
		out = append(out, r.Aborted)
	}
	if r.Connect.NotReady != "" {
		out = append(out, "not ready: "+r.Connect.NotReady)
	}
	for _, ps := range [][]problem{r.ControllerProblems, r.ServerProblems, r.RunnerProblems} {
		if len(ps) > 0 {
			out = append(out, fmt.Sprintf("%d× %s", ps[0].Count, ps[0].What))
		}
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.ReplaceAll(strings.Join(out, "; "), "|", "/")
}

// Details are the figures behind the row, for the report.
func (r *Result) Details() string {
	var b strings.Builder
	limit := ""
	if r.MemoryLimit != "" {
		limit = ", controller memory-limit " + r.MemoryLimit
	}
	fmt.Fprintf(&b, "### %s, N = %d (connect rate %.0f/s, heartbeat %s%s, load %s → %s, dir %s)\n\n", r.Topology, r.N, r.ConnectRate, r.Heartbeat, limit, r.LoadBefore, r.LoadAfter, r.Dir)
	c := r.Connect
	fmt.Fprintf(&b, "- connect: runners started over %.1fs; all connected %.1fs, all with a slice %.1fs, all consuming %.1fs, controller registry complete %.1fs; %d slice fetches for %d runners\n",
		c.Started, c.AllConnected, c.AllApplied, c.AllConsuming, c.AllRegistered, c.Fetches, r.N)
	if c.NotReady != "" {
		fmt.Fprintf(&b, "- NOT READY %s\n", c.NotReady)
	}
	for _, name := range sortedKeys(c.Peak) {
		fmt.Fprintf(&b, "- busiest 5 s while connecting, %s: %s\n", name, c.Peak[name])
	}
	fmt.Fprintf(&b, "- idle %.0fs: %s\n", r.Idle.Seconds, r.idleLine())
	for _, p := range r.Procs {
		heap := ""
		if p.HeapLiveMB > 0 {
			heap = fmt.Sprintf(" (Go heap after GC %d MB, next GC at %d MB)", p.HeapLiveMB, p.HeapGoalMB)
		}
		fmt.Fprintf(&b, "- %s: RSS %.0f MiB before runners, %.0f idle%s, peak %.0f; CPU %.1f%% before, %.1f%% idle; %d threads, %d/%d fds\n",
			p.Name, p.BaseRSSMiB, p.IdleRSSMiB, heap, p.PeakRSSMiB, p.BaseCPU, p.IdleCPU, p.Threads, p.FDs, p.FDLimit)
	}
	d := r.Dispatch
	fmt.Fprintf(&b, "- dispatch: %d events, p50 %.1f ms, p90 %.1f, p99 %.1f, max %.1f; %d lost, %d to a wrong runner; post errors %v\n",
		d.Posted, d.P50, d.P90, d.P99, d.Max, d.Missing, d.WrongRunner, d.PostErrors)
	for _, rl := range r.Reloads {
		fmt.Fprintf(&b, "- reload to revision %d: %d runners reached, %d not; last reached %.3fs, p50 %.3fs; controller logged reloaded %.3fs, every runner on it %.3fs (-1: not in a minute); controller CPU %.2fs\n",
			rl.Revision, rl.Reached, rl.NotReached, rl.AllRunners, rl.P50, rl.Reloaded, rl.ControllerSawAll, rl.ControllerCPUSeconds)
	}
	fmt.Fprintf(&b, "- simulator peak RSS %.0f MiB; runner disconnections %d\n", r.SimPeakRSSMiB, r.Disconnects)
	for _, g := range []struct {
		name string
		ps   []problem
	}{{"at start, before any runner", r.StartProblems}, {"controllers", r.ControllerProblems}, {"nats-servers", r.ServerProblems}, {"runners", r.RunnerProblems}} {
		for i, p := range g.ps {
			if i == 8 {
				fmt.Fprintf(&b, "- %s: … %d more kinds\n", g.name, len(g.ps)-i)
				break
			}
			fmt.Fprintf(&b, "- %s: %d× %s\n", g.name, p.Count, p.What)
		}
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortDurations(d []time.Duration) { slices.Sort(d) }

func newSlogger(h slog.Handler) *slog.Logger { return slog.New(h) }

// monitor samples the daemons every interval while the fleet connects,
// prints a progress line and keeps each process's busiest interval.
type monitor struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	peak  map[string]float64
	line  map[string]string
}

func (m *monitor) start(s *sim, every time.Duration) {
	m.stopc = make(chan struct{})
	m.peak, m.line = map[string]float64{}, map[string]string{}
	m.wg.Go(func() {
		prev := s.sample()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-m.stopc:
				return
			case <-t.C:
			}
			cur := s.sample()
			var parts []string
			m.mu.Lock()
			for name, c := range cur {
				p, ok := prev[name]
				if !ok {
					continue
				}
				cpu := cpuShare(p, c)
				line := fmt.Sprintf("%.0f%% CPU, %.0f MiB, %d fds, %d threads", cpu, mib(c.RSS), c.FDs, c.Threads)
				if cpu > m.peak[name] || m.line[name] == "" {
					m.peak[name], m.line[name] = cpu, line
				}
				parts = append(parts, name+" "+line)
			}
			m.mu.Unlock()
			slices.Sort(parts)
			f := s.fleet
			s.progress("connected %d, with slice %d, consuming %d | %s", f.connected.Load(), f.withSlice.Load(), f.consuming.Load(), strings.Join(parts, " | "))
			prev = cur
		}
	})
}

func (m *monitor) stop() {
	close(m.stopc)
	m.wg.Wait()
}

func (m *monitor) peaks() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for k, v := range m.line {
		out[k] = v
	}
	return out
}
