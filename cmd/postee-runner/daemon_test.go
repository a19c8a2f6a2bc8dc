package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// readyTimeout covers the runner's wait for a first config (10s) when no
// controller answers and no slice is cached.
const readyTimeout = 20 * time.Second

// TestRunnerWithoutController starts the runner with an unreachable
// controller under systemd's notify protocol and watchdog.
func TestRunnerWithoutController(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	ns := daemontest.NewNotifySocket(t)
	cmd := r.command(ns.Env(), "WATCHDOG_USEC=200000")
	cmd.Args = daemontest.WithPID("WATCHDOG_PID", cmd.Args...)
	cmd.Path = cmd.Args[0]
	p := daemontest.Start(t, cmd)

	// The watchdog is fed during the start-up wait too.
	ns.Await(t, `^WATCHDOG=1$`, 5*time.Second)
	ready, _ := ns.Await(t, `^READY=1\n`, readyTimeout)
	if !strings.Contains(ready, "\nSTATUS=controller unreachable") {
		t.Errorf("READY notification %q: want STATUS=controller unreachable", ready)
	}
	announce := filepath.Join(r.runtime, "runner.json")
	var a struct {
		Name   string   `json:"name"`
		Pid    int      `json:"pid"`
		Intake []string `json:"intake"`
	}
	if err := json.Unmarshal([]byte(daemontest.ReadFile(t, announce)), &a); err != nil {
		t.Fatalf("runner.json after READY: %v", err)
	}
	if a.Name != "x" || a.Pid != p.Pid() || len(a.Intake) != 1 || !strings.HasPrefix(a.Intake[0], "http://127.0.0.1:") {
		t.Errorf("runner.json = %+v, want name x, pid %d, one loopback http intake", a, p.Pid())
	}

	p.Signal(t, syscall.SIGTERM)
	ns.Await(t, `^STOPPING=1$`, 5*time.Second)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0; stderr:\n%s", code, p.Stderr())
	}
	if _, err := os.Stat(announce); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("runner.json after stop: %v, want it removed", err)
	}
}

// TestRunnerStopDuringStart stops the runner while it still waits for its
// first config: systemd's stop must not wait for that.
func TestRunnerStopDuringStart(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	ns := daemontest.NewNotifySocket(t)
	p := daemontest.Start(t, r.command(ns.Env()))
	p.AwaitLog(t, "controller unreachable", 5*time.Second)
	p.Signal(t, syscall.SIGTERM)
	start := time.Now()
	_, before := ns.Await(t, `^STOPPING=1$`, 5*time.Second)
	for _, m := range before {
		if strings.HasPrefix(m, "READY=1") {
			t.Errorf("READY=1 sent after SIGTERM, before STOPPING=1: %q", before)
		}
	}
	if code := p.Wait(t, 5*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, p.Stderr())
	}
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
}

func TestRunnerVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--version"}, {"version"}, {"run", "--version"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = daemontest.Env()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if want := "postee-runner " + daemontest.Version; err != nil || len(lines) != 3 || lines[0] != want ||
			!strings.HasPrefix(lines[1], "commit: ") || lines[2] != "go: "+runtime.Version() {
			t.Errorf("%q: %v, stdout %q (stderr %q), want %q, a commit and the Go version", args, err, stdout.String(), stderr.String(), want)
		}
	}
}

// TestRunnerHelp: --help and -h are the program's, not run's.
func TestRunnerHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil || !strings.Contains(string(out), "postee-runner version") || !strings.Contains(string(out), "postee-runner [run]") {
			t.Errorf("%q: %v, stdout %q: want the subcommands", args, err, out)
		}
	}
}

// TestRunnerSocketActivated passes the runner an "http" socket as
// postee-runner.socket would (and no "https" one, as when
// postee-runner-https.socket is masked): an event sent before the runner
// even started is taken while the controller is unreachable.
func TestRunnerSocketActivated(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	httpsAddr := daemontest.FreeAddr(t)
	cmd := r.command("LISTEN_FDS=1", "LISTEN_FDNAMES=http")
	cmd.Args = daemontest.WithPID("LISTEN_PID", append(cmd.Args, "--url", "", "--tls", httpsAddr)...)
	cmd.Path = cmd.Args[0]
	cmd.ExtraFiles = []*os.File{f}
	p := daemontest.Start(t, cmd)

	a := daemontest.Post(t, ln.Addr().String(), event(t))
	if a.EventID == "" {
		t.Errorf("answer %+v: want an event id", a)
	}
	// The intake serves, so the listeners are set up by now.
	if c, err := net.Dial("tcp", httpsAddr); err == nil {
		c.Close()
		t.Errorf("the runner bound the configured https address %s though systemd passed no https socket", httpsAddr)
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, p.Stderr())
	}
}

func event(t *testing.T) []byte {
	t.Helper()
	return []byte(daemontest.ReadFile(t, filepath.Join("..", "..", "testdata", "events", "tracee-finding.json")))
}

// TestRunnerWithoutIntake: a runner with neither HTTP nor HTTPS intake (it
// only runs dispatched work, or only follows Tracee files) runs until it
// is stopped, and no error is ever formatted from a nil.
func TestRunnerWithoutIntake(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	ns := daemontest.NewNotifySocket(t)
	cmd := r.command(ns.Env())
	cmd.Args = append(cmd.Args, "--url", "", "--tls", "")
	p := daemontest.Start(t, cmd)
	ns.Await(t, `^READY=1\n`, readyTimeout)
	select { // the old runner exited 1 right after READY ("intake: %!w(<nil>)")
	case <-p.Exited():
		t.Fatalf("the runner exited on its own; stderr:\n%s", p.Stderr())
	case <-time.After(time.Second):
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0; stderr:\n%s", code, p.Stderr())
	}
	if strings.Contains(p.Stderr(), "%!") {
		t.Fatalf("a formatting error in the log:\n%s", p.Stderr())
	}
}

// TestPosteeRunnerFlags: Postee's runner command line (its docs' example)
// parses unchanged, --runner-seed-file included.
func TestPosteeRunnerFlags(t *testing.T) {
	t.Parallel()
	args := []string{"run", "--controller-url=nats://0.0.0.0:4222", "--runner-ca-root=./rootCA.pem", "--runner-tls-cert=./runner-cert.pem",
		"--runner-tls-key=./runner-key.pem", "--runner-seed-file=./seed.txt", "--runner-name=postee-runner-1", "--url=0.0.0.0:9082", "--tls=0.0.0.0:9445", "--help"}
	cmd := exec.Command(bin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-runner-seed-file") {
		t.Fatalf("%v\n%s", err, out)
	}
}
