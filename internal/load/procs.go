package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/postee-fleet/posteed/agent/procfs"
)

// cpuOf is pid's user + system CPU time so far (its threads included,
// its children not).
func cpuOf(pid int) (time.Duration, error) {
	s, err := procfs.ReadStat(pid)
	if err != nil {
		return 0, err
	}
	if s.Field(15) == "" {
		return 0, errors.New("short /proc stat")
	}
	return s.CPU(), nil
}

// statusKiB reads a kB field of /proc/PID/status (VmHWM, VmRSS).
func statusKiB(pid int, field string) (int64, error) {
	st, err := procfs.Status(pid)
	if err != nil {
		return 0, err
	}
	v, ok := st[field]
	if !ok {
		return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
	}
	return procfs.KiB(v)
}

// loadavg is the first three fields of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// daemon is a started posteed-controller or postee-runner.
type daemon struct {
	name  string
	cmd   *exec.Cmd
	log   string
	admin string // host:port of its admin listener
	done  chan struct{}
	err   error // after done
}

// cleanEnv is the environment without what systemd hands a service: the
// daemons must not notify or take sockets meant for posteed-load.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID",
			"JOURNAL_STREAM", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "RUNTIME_DIRECTORY":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// startDaemon runs bin with args, its output in dir/name.log.
func startDaemon(name, bin, dir, admin string, args ...string) (*daemon, error) {
	logFile := filepath.Join(dir, name+".log")
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = f, f, cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive posteed-load
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d := &daemon{name: name, cmd: cmd, log: logFile, admin: admin, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// ready waits until the daemon's /readyz answers 200.
func (d *daemon) ready(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.admin+"/readyz", nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-d.done:
			return fmt.Errorf("%s exited: %v\n%s", d.name, d.err, d.tail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v\n%s", d.name, timeout, d.tail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// alive reports an error if the daemon exited.
func (d *daemon) alive() error {
	select {
	case <-d.done:
		return fmt.Errorf("%s exited: %v\n%s", d.name, d.err, d.tail(20))
	default:
		return nil
	}
}

// tail is the end of the daemon's log.
func (d *daemon) tail(n int) string {
	b, _ := os.ReadFile(d.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stop sends SIGTERM and waits, then kills.
func (d *daemon) stop() {
	if d == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// settledCPU reads pid's CPU time once it stops growing (work for events
// already delivered, acks and records, is part of their cost): at most
// limit after the call.
func settledCPU(pid int, limit time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(limit)
	prev, err := cpuOf(pid)
	if err != nil {
		return 0, err
	}
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		cur, err := cpuOf(pid)
		if err != nil {
			return 0, err
		}
		if cur-prev <= time.Second/procfs.UserHZ { // at most one tick in 300 ms: idle
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}
