package main

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

const startTimeout = 20 * time.Second

// TestNotifyLifecycle drives the controller through start, a good reload, a
// bad reload and stop, as systemd would, and checks every notification.
func TestNotifyLifecycle(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, "")
	ns := daemontest.NewNotifySocket(t)
	p := daemontest.Start(t, d.command([]string{ns.Env()}))

	ready, _ := ns.Await(t, `^READY=1\n`, startTimeout)
	// Dial before anything else: READY promises a bound listener.
	conn, err := net.DialTimeout("tcp", d.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("READY=1 sent but the HTTP intake does not accept: %v", err)
	}
	_ = conn.Close()
	// stderr is a file, so a line logged before READY is readable now.
	if l, ok := p.Line("controller ready"); !ok || daemontest.LogAttr(l, "http") != d.addr {
		t.Fatalf("want the 'controller ready' log line naming %s before READY=1; stderr:\n%s", d.addr, p.Stderr())
	}
	wantStatus(t, ready, "1 routes, cfg rev 1")

	writeFile(t, d.cfg, cfgYAML("", d.out, "- name: busybox\n  input: contains(input.image, \"busybox\")\n  actions: [append]\n  template: raw-json\n"))
	p.Signal(t, syscall.SIGHUP)
	reloadBracket(t, ns, "2 routes, cfg rev 2")

	writeFile(t, d.cfg, cfgYAML("", d.out, "- name: broken\n  actions: [undefined-action]\n"))
	p.Signal(t, syscall.SIGHUP)
	reloadBracket(t, ns, "reload failed, kept config rev 2")

	// The old config still runs: route alpine's exec action.
	a := daemontest.Post(t, d.addr, event(t, "image-scan.json"))
	if strings.Join(a.Routes, ",") != "alpine" {
		t.Fatalf("routes %q, want [alpine]", a.Routes)
	}
	lines := daemontest.AwaitLines(t, d.out, 1, 10*time.Second)
	if lines[0] != "alpine "+a.EventID {
		t.Fatalf("exec wrote %q, want %q", lines[0], "alpine "+a.EventID)
	}

	p.Signal(t, syscall.SIGTERM)
	ns.Await(t, `^STOPPING=1$`, 5*time.Second)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0; stderr:\n%s", code, p.Stderr())
	}
}

// reloadBracket awaits RELOADING=1 and then READY=1 whose STATUS contains
// status, with no READY=1 in between.
func reloadBracket(t *testing.T, ns *daemontest.NotifySocket, status string) {
	t.Helper()
	_, before := ns.Await(t, `^RELOADING=1\nMONOTONIC_USEC=\d+$`, 10*time.Second)
	for _, m := range before {
		if strings.HasPrefix(m, "READY=1") {
			t.Fatalf("READY=1 before RELOADING=1: %q", before)
		}
	}
	ready, _ := ns.Await(t, `^READY=1\n`, 10*time.Second)
	wantStatus(t, ready, status)
}

func wantStatus(t *testing.T, msg, want string) {
	t.Helper()
	for l := range strings.Lines(msg) {
		if s, ok := strings.CutPrefix(strings.TrimSuffix(l, "\n"), "STATUS="); ok && strings.Contains(s, want) {
			return
		}
	}
	t.Fatalf("notification %q: want a STATUS= line with %q", msg, want)
}

// TestWatchdog checks the pings when systemd's WatchdogSec= is set; the
// wrapper gives WATCHDOG_PID the daemon's pid as systemd would.
func TestWatchdog(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, "")
	ns := daemontest.NewNotifySocket(t)
	cmd := d.command([]string{ns.Env(), "WATCHDOG_USEC=200000"})
	cmd.Args = daemontest.WithPID("WATCHDOG_PID", cmd.Args...)
	cmd.Path = cmd.Args[0]
	p := daemontest.Start(t, cmd)
	ns.Await(t, `^READY=1\n`, startTimeout)
	start := time.Now()
	for range 3 {
		ns.Await(t, `^WATCHDOG=1$`, time.Second)
	}
	// Three pings at half of 200ms take about 300ms; far slower would miss
	// systemd's deadline.
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("3 watchdog pings took %s, want about 300ms", took)
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// TestControllerWithoutIntake: a controller with neither HTTP nor HTTPS
// intake (it only takes its runners' events) runs until it is stopped, and
// no error is ever formatted from a nil.
func TestControllerWithoutIntake(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, "")
	ns := daemontest.NewNotifySocket(t)
	p := daemontest.Start(t, d.command([]string{ns.Env()}, "--url", "", "--tls", ""))
	ns.Await(t, `^READY=1\n`, startTimeout)
	select { // it exited 1 right after READY ("intake: %!w(<nil>)")
	case <-p.Exited():
		t.Fatalf("the controller exited on its own; stderr:\n%s", p.Stderr())
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
