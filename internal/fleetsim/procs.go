package fleetsim

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/postee-fleet/posteed/agent/procfs"
)

// procSample is what /proc says about a process at one moment.
type procSample struct {
	At       time.Time
	CPU      time.Duration // user + system, since the process started
	RSS, HWM int64         // bytes: resident now, peak resident
	Threads  int
	FDs      int
	FDLimit  int64
}

// readProc samples pid.
func readProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	stat, err := procfs.ReadStat(pid)
	if err != nil {
		return s, err
	}
	s.CPU = stat.CPU()
	status, err := procfs.Status(pid)
	if err != nil {
		return s, err
	}
	s.RSS, s.HWM = kib(status["VmRSS"]), kib(status["VmHWM"])
	s.Threads, _ = strconv.Atoi(status["Threads"])
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s.FDs = len(fds)
	}
	if lim, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid)); err == nil {
		for _, line := range strings.Split(string(lim), "\n") {
			if strings.HasPrefix(line, "Max open files") {
				if f := strings.Fields(strings.TrimPrefix(line, "Max open files")); len(f) > 0 {
					s.FDLimit, _ = strconv.ParseInt(f[0], 10, 64)
				}
			}
		}
	}
	return s, nil
}

func kib(v string) int64 {
	n, _ := procfs.KiB(v)
	return n << 10
}

// cpuShare is the CPU a process used between two samples, in percent of
// one core.
func cpuShare(a, b procSample) float64 {
	wall := b.At.Sub(a.At)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.CPU-a.CPU) / float64(wall)
}

// children are the processes whose parent is this one and whose command
// name is comm.
func children(comm string) []int {
	self := os.Getpid()
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		f := strings.Fields(s[close+1:])
		if len(f) > 1 && s[open+1:close] == comm && f[1] == strconv.Itoa(self) {
			out = append(out, pid)
		}
	}
	sort.Ints(out)
	return out
}

// process is a daemon the simulation started: a controller, or a
// nats-server of the cluster (started by natsdtest, which keeps the
// handle; pid only).
type process struct {
	Name string
	Pid  int
	cmd  *exec.Cmd // nil for processes started elsewhere
	done chan struct{}
	err  error // set before done closes
	logs *logWatch
}

// startDaemon runs bin with args, its stderr and stdout into logFile and
// through a logWatch. It dies with the simulation (SIGKILL when this
// process ends).
func startDaemon(name, bin string, args []string, logFile string, env []string) (*process, error) {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{Name: name, Pid: cmd.Process.Pid, cmd: cmd, done: make(chan struct{}), logs: newLogWatch()}
	go p.logs.read(pr, f)
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	if p.cmd == nil {
		return syscall.Kill(p.Pid, 0) != nil
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) signal(sig syscall.Signal) error {
	if p.exited() {
		return fmt.Errorf("%s has exited", p.Name)
	}
	return syscall.Kill(p.Pid, sig)
}

// stop asks the daemon to stop (SIGTERM) and kills it after wait.
func (p *process) stop(wait time.Duration) {
	if p.cmd == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(wait):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// logWatch reads a daemon's log (slog text lines), keeps it in a file and
// counts warnings and errors by message; waiters hear the lines they look
// for as they arrive.
type logWatch struct {
	mu      sync.Mutex
	heap    [2]int         // guarded by mu: MB live after the last GC, and the goal (GODEBUG=gctrace=1)
	counts  map[string]int // "LEVEL msg" → lines; guarded by mu
	first   map[string]string
	waiters []*logWaiter
}

type logWaiter struct {
	match func(msg string, attrs map[string]string) bool
	ch    chan time.Time
}

func newLogWatch() *logWatch {
	return &logWatch{counts: map[string]int{}, first: map[string]string{}}
}

func (w *logWatch) read(r io.Reader, file *os.File) {
	defer file.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	out := bufio.NewWriter(file)
	defer out.Flush()
	last := time.Now()
	for sc.Scan() {
		now := time.Now()
		line := sc.Text()
		out.WriteString(line)
		out.WriteByte('\n')
		if now.Sub(last) > time.Second {
			out.Flush()
			last = now
		}
		w.line(now, line)
	}
}

func (w *logWatch) line(now time.Time, line string) {
	if live, goal, ok := parseGCTrace(line); ok {
		w.mu.Lock()
		w.heap = [2]int{live, goal}
		w.mu.Unlock()
		return
	}
	level, msg, attrs := parseSlog(line)
	if level == "" {
		level, msg = natsLevel(line)
		if level == "" {
			return
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if level == "WARN" || level == "ERROR" {
		key := level + " " + normalize(msg)
		if e := attrs["error"]; e != "" {
			key += ": " + normalize(e)
		}
		if w.counts[key] == 0 {
			w.first[key] = line
		}
		w.counts[key]++
	}
	kept := w.waiters[:0]
	for _, wt := range w.waiters {
		if wt.match(msg, attrs) {
			wt.ch <- now
			continue
		}
		kept = append(kept, wt)
	}
	w.waiters = kept
}

// await returns a channel that hears when the first line matching arrives.
func (w *logWatch) await(match func(msg string, attrs map[string]string) bool) <-chan time.Time {
	ch := make(chan time.Time, 1)
	w.mu.Lock()
	w.waiters = append(w.waiters, &logWaiter{match: match, ch: ch})
	w.mu.Unlock()
	return ch
}

// problems are the warning and error messages seen, most frequent first.
func (w *logWatch) problems() []problem {
	w.mu.Lock()
	defer w.mu.Unlock()
	return sortedProblems(w.counts, w.first)
}

type problem struct {
	What    string `json:"what"`
	Count   int    `json:"count"`
	Example string `json:"example,omitempty"`
}

func sortedProblems(counts map[string]int, first map[string]string) []problem {
	out := make([]problem, 0, len(counts))
	for k, n := range counts {
		out = append(out, problem{What: k, Count: n, Example: first[k]})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].What < out[j].What
	})
	return out
}

// lastHeap is the heap after the last GC and the next goal, in MB.
func (w *logWatch) lastHeap() (live, goal int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.heap[0], w.heap[1]
}

// parseGCTrace reads a line of the Go runtime's gctrace: "gc 12 @3.4s 1%:
// … ms cpu, 40->41->20 MB, 42 MB goal, …".
func parseGCTrace(line string) (live, goal int, ok bool) {
	if !strings.HasPrefix(line, "gc ") {
		return 0, 0, false
	}
	for _, part := range strings.Split(line, ", ") {
		switch {
		case strings.HasSuffix(part, " MB goal"):
			goal, _ = strconv.Atoi(strings.TrimSuffix(part, " MB goal"))
		case strings.Contains(part, "->") && strings.HasSuffix(part, " MB"):
			f := strings.Split(strings.TrimSuffix(part, " MB"), "->")
			live, _ = strconv.Atoi(f[len(f)-1])
			ok = true
		}
	}
	return live, goal, ok
}

// parseSlog reads a line of slog's text handler: level, msg and the other
// attributes (values unquoted).
func parseSlog(line string) (level, msg string, attrs map[string]string) {
	if !strings.HasPrefix(line, "time=") {
		return "", "", nil
	}
	attrs = map[string]string{}
	rest := line
	for rest != "" {
		rest = strings.TrimLeft(rest, " ")
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		var val string
		if strings.HasPrefix(v, `"`) {
			q, err := strconv.QuotedPrefix(v)
			if err != nil {
				break
			}
			val, _ = strconv.Unquote(q)
			rest = v[len(q):]
		} else {
			end := strings.IndexByte(v, ' ')
			if end < 0 {
				end = len(v)
			}
			val, rest = v[:end], v[end:]
		}
		attrs[k] = val
	}
	return attrs["level"], attrs["msg"], attrs
}

// natsLevel reads a nats-server log line ("... [WRN] text"), its variable
// parts (addresses, client ids, numbers) blanked so that lines count by
// kind.
func natsLevel(line string) (level, msg string) {
	if rest, ok := strings.CutPrefix(line, "nats: "); ok { // nats.go's default error handler
		return "ERROR", "nats client: " + normalize(rest)
	}
	for tag, lvl := range map[string]string{"[WRN] ": "WARN", "[ERR] ": "ERROR", "[FTL] ": "ERROR"} {
		if i := strings.Index(line, tag); i >= 0 {
			return lvl, normalize(line[i+len(tag):])
		}
	}
	return "", ""
}

// normalize blanks what varies between lines of one kind: numbers, and
// hex ids (event ids) of 8 characters or more.
func normalize(s string) string {
	s = hexID.ReplaceAllString(s, "#")
	var b strings.Builder
	digits := false
	for _, r := range s {
		if r >= '0' && r <= '9' {
			if !digits {
				b.WriteByte('#')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > 160 {
		out = out[:160] + "…"
	}
	return out
}

var hexID = regexp.MustCompile(`\b[0-9a-f]{8,}\b`)

// freeAddr is a loopback address nothing listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
