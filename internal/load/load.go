// Package load is posteed's end-to-end load benchmark (cmd/posteed-load,
// scripts/bench e2e): it starts a release build of a daemon with a
// generated config of 10 Rego routes, each with one http action posting
// the raw-json message to a sink in this process, sends it events (webhook
// posts from concurrent keep-alive clients, or lines appended to a
// followed Tracee file) and measures completed events/s, the daemon's CPU
// time per completed event, its peak RSS and the latency from post to the
// event's last action arriving at the sink.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The setups measured.
const (
	// ModeController: events posted to a controller running as shipped,
	// its embedded NATS server with JetStream on; actions on the
	// controller. No runner.
	ModeController = "controller"
	// ModeControllerNoNATS: the same controller with controller-mode off
	// (standalone, no NATS, no JetStream).
	ModeControllerNoNATS = "controller-nats-off"
	// ModeRunnerWebhook: events posted to a runner's webhook intake; the
	// routes' actions run on the runner itself. Its controller runs too.
	ModeRunnerWebhook = "runner-webhook"
	// ModeRunnerTracee: the same runner, events appended as lines to the
	// Tracee file it follows.
	ModeRunnerTracee = "runner-tracee"
)

// Modes lists the setups in the order scripts/bench runs them.
var Modes = []string{ModeController, ModeControllerNoNATS, ModeRunnerWebhook, ModeRunnerTracee}

// runnerName is the runner of the runner setups.
const runnerName = "postee-runner-1"

// Options configure one measurement.
type Options struct {
	Mode          string
	ControllerBin string // posteed-controller (a release build)
	RunnerBin     string // postee-runner, for the runner setups
	Samples       string // the sample events (testdata/events)

	Events  int // events measured (an upper bound with Duration)
	Clients int // concurrent keep-alive clients posting
	Warmup  int // events sent and completed before measuring
	// Window bounds the Tracee lines appended whose actions have not all
	// arrived (ModeRunnerTracee).
	Window int
	// Rate paces the events (per second, all clients together); 0: as
	// fast as the daemon answers.
	Rate float64
	// Duration, when set, ends the posting after this long.
	Duration time.Duration
	// Drain is how long to wait for actions when none arrives any more.
	Drain time.Duration

	// Profile, when set, is where the controller's CPU profile of the
	// measured run is written (its pprof setting is turned on), taken over
	// ProfileSeconds from the first measured post.
	Profile        string
	ProfileSeconds int

	Dir      string    // work directory (default: a temporary one, removed)
	Keep     bool      // keep the work directory
	Progress io.Writer // progress lines (nil: none)
}

func (o *Options) defaults() error {
	if !slices.Contains(Modes, o.Mode) {
		return fmt.Errorf("unknown mode %q (one of %s)", o.Mode, strings.Join(Modes, ", "))
	}
	if o.ControllerBin == "" {
		return errors.New("the posteed-controller binary is required")
	}
	if strings.HasPrefix(o.Mode, "runner") && o.RunnerBin == "" {
		return errors.New("the postee-runner binary is required for " + o.Mode)
	}
	if o.Profile != "" && strings.HasPrefix(o.Mode, "runner") {
		return errors.New("profiles are taken of the controller: use a controller mode")
	}
	if o.Events <= 0 {
		o.Events = 3000
	}
	if o.Clients <= 0 {
		o.Clients = 8
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	}
	if o.Window <= 0 {
		o.Window = 64
	}
	if o.Drain <= 0 {
		o.Drain = 30 * time.Second
	}
	if o.ProfileSeconds <= 0 {
		o.ProfileSeconds = 10
	}
	if o.Samples == "" {
		o.Samples = filepath.Join("testdata", "events")
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// Result is what one measurement found.
type Result struct {
	Mode    string  `json:"mode"`
	Clients int     `json:"clients"`
	Window  int     `json:"window,omitempty"`
	Rate    float64 `json:"rate,omitempty"`

	Posted    int   `json:"posted"`    // measured events sent
	Answered  int   `json:"answered"`  // of them answered 2xx (or appended)
	Failed    int   `json:"failed"`    // answered otherwise in the end
	Retried   int64 `json:"retried"`   // 503 answers retried on the way
	Completed int64 `json:"completed"` // with every expected action arrived
	Actions   int64 `json:"actions"`   // action requests at the sink

	PostTime  time.Duration `json:"post_time_ns"`  // first post → last answer
	TotalTime time.Duration `json:"total_time_ns"` // first post → last completion

	EventsPerSec   float64 `json:"events_per_s"`   // completed / TotalTime
	AnsweredPerSec float64 `json:"answered_per_s"` // answered / PostTime

	CPU           time.Duration `json:"cpu_ns"` // the measured daemon's, over the run
	CPUPerEvent   float64       `json:"cpu_ms_per_event"`
	PeakRSSKiB    int64         `json:"peak_rss_kib"`     // its VmHWM at the end
	OtherCPU      time.Duration `json:"other_cpu_ns"`     // the controller's, in the runner setups
	GeneratorCPU  time.Duration `json:"generator_cpu_ns"` // this process's: clients and sink
	P50, P90, P99 time.Duration
	Max           time.Duration
	// AnswerP50 and AnswerP99 are post → answer (0 for file lines): with
	// C clients, at most C / answer time events a second go in.
	AnswerP50, AnswerP99 time.Duration
	LoadBefore           string `json:"load_before"`
	LoadAfter            string `json:"load_after"`

	Unknown, Extra, Untagged int64 // sink requests naming no event, beyond the expected count, without a tag
}

// Run measures one setup.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "posteed-load-")
		if err != nil {
			return nil, err
		}
		dir = d
		if !o.Keep {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	r := &run{o: o, dir: dir, res: &Result{Mode: o.Mode, Clients: o.Clients, Rate: o.Rate}}
	defer r.stop()
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	if err := r.measure(ctx); err != nil {
		return r.res, err
	}
	return r.res, nil
}

// run is one measurement in progress.
type run struct {
	o   Options
	dir string
	res *Result

	tr      *tracker
	sink    *sink
	samples []sample // posted or appended in turn
	ctl     *daemon
	runner  *daemon
	target  *daemon // the daemon measured
	intake  string  // URL events are posted to
	tracee  string  // the followed file (ModeRunnerTracee)
	// traceeWant is how many actions each Tracee sample makes.
	traceeWant []int
	seq        int   // next sequence number
	answered   int64 // events taken in (answered 2xx, or appended) so far
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.o.Progress, "posteed-load: "+format+"\n", args...)
}

func (r *run) stop() {
	r.runner.stop()
	r.ctl.stop()
	if r.sink != nil {
		r.sink.close()
	}
}

func (r *run) setup(ctx context.Context) error {
	var err error
	if r.o.Mode == ModeRunnerTracee {
		r.samples, err = traceeSamples(r.o.Samples)
	} else {
		r.samples, err = webhookSamples(r.o.Samples)
	}
	if err != nil {
		return err
	}
	calib := 0
	if r.o.Mode == ModeRunnerTracee {
		calib = len(r.samples)
	}
	r.tr = newTracker(calib + r.o.Warmup + r.o.Events + 1)
	if r.sink, err = startSink(r.tr); err != nil {
		return err
	}
	runsOn := ""
	if strings.HasPrefix(r.o.Mode, "runner") {
		runsOn = runnerName
	}
	cfg := filepath.Join(r.dir, "cfg.yaml")
	if err := os.WriteFile(cfg, []byte(cfgYAML(r.sink.URL(), runsOn)), 0o600); err != nil {
		return err
	}
	nats := r.o.Mode != ModeControllerNoNATS
	pki := filepath.Join(r.dir, "pki")
	if nats {
		out, err := runCmd(r.o.ControllerBin, "certs", "--dir", pki, "--controller-host", "localhost", runnerName)
		if err != nil {
			return fmt.Errorf("certs: %v: %s", err, out)
		}
	}
	ports := make([]int, 5)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return err
		}
	}
	httpPort, adminPort, natsPort, runnerHTTP, runnerAdmin := ports[0], ports[1], ports[2], ports[3], ports[4]
	toml := []string{
		"cfgfile = " + strconv.Quote(cfg),
		fmt.Sprintf("url = \"127.0.0.1:%d\"", httpPort),
		`tls = ""`,
		"state-dir = " + strconv.Quote(filepath.Join(r.dir, "controller")),
		fmt.Sprintf("admin = \"127.0.0.1:%d\"", adminPort),
	}
	if r.o.Profile != "" {
		toml = append(toml, "pprof = true")
	}
	if nats {
		toml = append(toml, "controller-mode = true",
			fmt.Sprintf("controller-url = \"nats://127.0.0.1:%d\"", natsPort),
			"controller-tls-cert = "+strconv.Quote(filepath.Join(pki, "controller.crt")),
			"controller-tls-key = "+strconv.Quote(filepath.Join(pki, "controller.key")),
			"controller-ca-root = "+strconv.Quote(filepath.Join(pki, "ca.crt")))
	}
	ctlTOML := filepath.Join(r.dir, "controller.toml")
	if err := os.WriteFile(ctlTOML, []byte(strings.Join(toml, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	r.ctl, err = startDaemon("posteed-controller", r.o.ControllerBin, r.dir, fmt.Sprintf("127.0.0.1:%d", adminPort), "run", "--config", ctlTOML)
	if err != nil {
		return err
	}
	if err := r.ctl.ready(ctx, 60*time.Second); err != nil {
		return err
	}
	r.target, r.intake = r.ctl, fmt.Sprintf("http://127.0.0.1:%d/", httpPort)
	if runsOn != "" {
		r.tracee = filepath.Join(r.dir, "tracee.json")
		if err := os.WriteFile(r.tracee, nil, 0o600); err != nil {
			return err
		}
		rt := []string{
			"runner-name = " + strconv.Quote(runnerName),
			fmt.Sprintf("controller-url = \"tls://127.0.0.1:%d\"", natsPort),
			"runner-tls-cert = " + strconv.Quote(filepath.Join(pki, runnerName+".crt")),
			"runner-tls-key = " + strconv.Quote(filepath.Join(pki, runnerName+".key")),
			"runner-ca-root = " + strconv.Quote(filepath.Join(pki, "ca.crt")),
			fmt.Sprintf("url = \"127.0.0.1:%d\"", runnerHTTP),
			`tls = ""`,
			"state-dir = " + strconv.Quote(filepath.Join(r.dir, "runner")),
			"runtime-dir = " + strconv.Quote(filepath.Join(r.dir, "runner-rt")),
			fmt.Sprintf("admin = \"127.0.0.1:%d\"", runnerAdmin),
			"[discovery]",
			"tracee-files = [" + strconv.Quote(r.tracee) + "]",
		}
		runTOML := filepath.Join(r.dir, "runner.toml")
		if err := os.WriteFile(runTOML, []byte(strings.Join(rt, "\n")+"\n"), 0o600); err != nil {
			return err
		}
		r.runner, err = startDaemon("postee-runner", r.o.RunnerBin, r.dir, fmt.Sprintf("127.0.0.1:%d", runnerAdmin), "run", "--config", runTOML)
		if err != nil {
			return err
		}
		if err := r.runner.ready(ctx, 60*time.Second); err != nil {
			return err
		}
		r.target, r.intake = r.runner, fmt.Sprintf("http://127.0.0.1:%d/", runnerHTTP)
	}
	r.logf("%s: %s ready (pid %d); sink %s", r.o.Mode, r.target.name, r.target.pid(), r.sink.URL())
	return nil
}

func runCmd(bin string, args ...string) ([]byte, error) {
	cmd := osexec.Command(bin, args...)
	cmd.Env = cleanEnv()
	return cmd.CombinedOutput()
}

// measure warms up, then sends the measured events and waits for them.
func (r *run) measure(ctx context.Context) error {
	p := newPoster(r, r.o.Clients)
	if r.o.Mode == ModeRunnerTracee {
		// What each line makes: its sample posted once to the webhook,
		// one post at a time so that they keep their order.
		st, err := newPoster(r, 1).post(ctx, len(r.samples), 0, 0)
		if err != nil {
			return err
		}
		if st.failed > 0 {
			return errors.New("calibration posts failed")
		}
		r.traceeWant = st.routes
		if err := r.await(ctx, r.answered, "calibration"); err != nil {
			return err
		}
		r.logf("actions per Tracee line: %v", r.traceeWant)
	}
	if r.o.Warmup > 0 {
		if _, err := r.sendStats(ctx, p, r.o.Warmup, 0, 0); err != nil {
			return err
		}
		if err := r.await(ctx, r.answered, "warm-up"); err != nil {
			return err
		}
	}
	pid := r.target.pid()
	cpu0, err := cpuOf(pid)
	if err != nil {
		return err
	}
	var other0 time.Duration
	if r.runner != nil {
		other0, _ = cpuOf(r.ctl.pid())
	}
	gen0 := selfCPU()
	r.res.LoadBefore = loadavg()
	from := r.seq
	prof := r.startProfile(ctx)
	start := r.tr.now()
	st, err := r.sendStats(ctx, p, r.o.Events, r.o.Rate, r.o.Duration)
	if err != nil {
		return err
	}
	r.res.Posted, r.res.Failed, r.res.Retried = st.sent, st.failed, st.retried
	r.res.Answered = st.sent - st.failed
	r.res.PostTime = time.Duration(st.lastAnswer - start)
	waitErr := r.await(ctx, r.answered, "measured events")
	cpu1, err := settledCPU(pid, 5*time.Second)
	if err != nil {
		return err
	}
	r.res.GeneratorCPU = selfCPU() - gen0
	r.res.LoadAfter = loadavg()
	if r.runner != nil {
		other1, _ := cpuOf(r.ctl.pid())
		r.res.OtherCPU = other1 - other0
	}
	if r.res.PeakRSSKiB, err = statusKiB(pid, "VmHWM"); err != nil {
		return err
	}
	if perr := prof.wait(); perr != nil {
		r.logf("profile: %v", perr)
	}
	r.res.CPU = cpu1 - cpu0
	r.summarize(from, r.seq, start)
	return waitErr
}

func (r *run) sendStats(ctx context.Context, p *poster, n int, rate float64, d time.Duration) (postStats, error) {
	var st postStats
	var err error
	if r.o.Mode == ModeRunnerTracee {
		st, err = r.appendLines(ctx, n, rate, d)
	} else {
		st, err = p.post(ctx, n, rate, d)
	}
	r.answered += int64(st.sent - st.failed)
	return st, err
}

// await waits until want events completed, as long as actions keep
// arriving (Drain without any ends it).
func (r *run) await(ctx context.Context, want int64, what string) error {
	last, lastAt := r.tr.actions.Load(), time.Now()
	for r.tr.completed.Load() < want {
		if err := r.target.alive(); err != nil {
			return err
		}
		if n := r.tr.actions.Load(); n != last {
			last, lastAt = n, time.Now()
		} else if time.Since(lastAt) > r.o.Drain {
			return fmt.Errorf("%s: %d of %d events completed; no action arrived for %v", what, r.tr.completed.Load(), want, r.o.Drain)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// summarize computes the rates and latencies of events [from, to).
func (r *run) summarize(from, to int, start int64) {
	var lat, ans []time.Duration
	var end int64
	for seq := from; seq < to; seq++ {
		s := r.tr.slot(seq, false)
		if s == nil || !s.done.Load() {
			continue
		}
		r.res.Completed++
		if a := s.answered.Load(); a != 0 {
			ans = append(ans, time.Duration(a-s.posted.Load()))
		}
		at := s.last.Load()
		if at == 0 { // matched nothing: done when answered
			at = s.answered.Load()
		} else {
			lat = append(lat, time.Duration(at-s.posted.Load()))
		}
		end = max(end, at)
		r.res.Actions += int64(s.got.Load())
	}
	r.res.TotalTime = time.Duration(end - start)
	if r.res.TotalTime > 0 {
		r.res.EventsPerSec = float64(r.res.Completed) / r.res.TotalTime.Seconds()
	}
	if r.res.PostTime > 0 {
		r.res.AnsweredPerSec = float64(r.res.Answered) / r.res.PostTime.Seconds()
	}
	if r.res.Completed > 0 {
		r.res.CPUPerEvent = float64(r.res.CPU) / float64(time.Millisecond) / float64(r.res.Completed)
	}
	slices.Sort(lat)
	r.res.P50, r.res.P90, r.res.P99 = quantile(lat, 0.5), quantile(lat, 0.9), quantile(lat, 0.99)
	slices.Sort(ans)
	r.res.AnswerP50, r.res.AnswerP99 = quantile(ans, 0.5), quantile(ans, 0.99)
	if len(lat) > 0 {
		r.res.Max = lat[len(lat)-1]
	}
	r.res.Unknown, r.res.Extra, r.res.Untagged = r.tr.unknown.Load(), r.tr.extra.Load(), r.sink.untagged.Load()
	r.res.Window = 0
	if r.o.Mode == ModeRunnerTracee {
		r.res.Window = r.o.Window
	}
}

// quantile is the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
