package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// TestSocketActivation starts the controller the way systemd's .socket unit
// does, through systemd-socket-activate: the first connection starts it and
// is served on the passed socket named "http". No "https" socket is passed,
// as when posteed-controller-https.socket is masked: HTTPS stays off even
// though an address is configured.
func TestSocketActivation(t *testing.T) {
	t.Parallel()
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate is not installed")
	}
	d := newDaemon(t, "")
	addr, httpsAddr := daemontest.FreeAddr(t), daemontest.FreeAddr(t)
	cmd := exec.Command(activate, "-l", addr, "--fdname=http", "-E", "PATH", bin, "--config="+d.settings, "--url", "", "--tls", httpsAddr)
	cmd.Env = daemontest.Env()
	p := daemontest.Start(t, cmd)
	p.AwaitLog(t, "Listening on", 10*time.Second)

	a := daemontest.Post(t, addr, event(t, "image-scan.json"))
	daemontest.AwaitLines(t, d.out, 1, 10*time.Second)
	if l, _ := p.Line("controller ready"); daemontest.LogAttr(l, "http") != addr || daemontest.LogAttr(l, "https") != "off" {
		t.Errorf("want the activated socket as http and https off; ready line %q", l)
	}
	if strings.Join(a.Routes, ",") != "alpine" {
		t.Errorf("routes %q, want [alpine]", a.Routes)
	}
	if c, err := net.Dial("tcp", httpsAddr); err == nil {
		c.Close()
		t.Errorf("the daemon bound the configured https address %s though systemd passed no https socket", httpsAddr)
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// TestRestartKeepsQueuedConnections holds the listening socket as systemd
// does across a restart: a connection made while no daemon runs waits in
// the kernel's backlog and the next daemon answers it.
func TestRestartKeepsQueuedConnections(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	first := startActivated(t, d, f)
	daemontest.Post(t, addr, event(t, "image-scan.json"))
	first.Signal(t, syscall.SIGTERM)
	if code := first.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("first daemon: exit code %d, want 0", code)
	}

	// No daemon runs now: the connection is queued, the request buffered.
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("connect while the daemon is down: %v", err)
	}
	defer conn.Close()
	body := string(event(t, "image-scan.json"))
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", addr, len(body), body)

	second := startActivated(t, d, f)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("request queued during the restart got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("queued request: %s", resp.Status)
	}
	daemontest.AwaitLines(t, d.out, 2, 10*time.Second)
	second.Signal(t, syscall.SIGTERM)
	if code := second.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("second daemon: exit code %d, want 0", code)
	}
}

// startActivated runs the controller with f as its socket-activated fd 3,
// named "http", and waits until it is ready.
func startActivated(t *testing.T, d *daemon, f *os.File) *daemontest.Proc {
	t.Helper()
	ns := daemontest.NewNotifySocket(t)
	cmd := d.command([]string{ns.Env(), "LISTEN_FDS=1", "LISTEN_FDNAMES=http"}, "--url", "")
	cmd.Args = daemontest.WithPID("LISTEN_PID", cmd.Args...)
	cmd.Path = cmd.Args[0]
	cmd.ExtraFiles = []*os.File{f}
	p := daemontest.Start(t, cmd)
	ns.Await(t, `^READY=1\n`, startTimeout)
	if l, _ := p.Line("controller ready"); daemontest.LogAttr(l, "https") != "off" {
		t.Errorf("tls = \"\" and no https socket: want https off; ready line %q", l)
	}
	return p
}
