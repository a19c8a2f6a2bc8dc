package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// unitValues returns the values of key in a systemd unit file, in order.
func unitValues(t *testing.T, unit, key string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "systemd", unit))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vals []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			vals = append(vals, v)
		}
	}
	return vals
}

// TestUnitWiring starts the binary with the unit's own ExecStart= and the
// sockets its Sockets= units name, each under its FileDescriptorName=: both
// intakes are served on the passed sockets. controller.toml says tls = "",
// yet a passed https socket is served (self-signed): the socket wins, as
// the packaged controller.toml documents.
func TestUnitWiring(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, "")
	exe := strings.Fields(unitValues(t, "posteed-controller.service", "ExecStart")[0])
	if exe[0] != "/usr/bin/posteed-controller" || len(exe) != 2 || exe[1] != "--config=/etc/postee/controller.toml" {
		t.Fatalf("ExecStart=%q: the test starts the daemon differently", exe)
	}
	var names, addrs []string
	var files []*os.File
	for _, sock := range strings.Fields(unitValues(t, "posteed-controller.service", "Sockets")[0]) {
		names = append(names, unitValues(t, sock, "FileDescriptorName")...)
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
		files, addrs = append(files, f), append(addrs, ln.Addr().String())
	}
	if strings.Join(names, ":") != "http:https" {
		t.Fatalf("socket units name their descriptors %q, want http and https", names)
	}
	ns := daemontest.NewNotifySocket(t)
	cmd := d.command([]string{ns.Env(), "LISTEN_FDS=2", "LISTEN_FDNAMES=" + strings.Join(names, ":")})
	cmd.Args = daemontest.WithPID("LISTEN_PID", cmd.Args...)
	cmd.Path, cmd.ExtraFiles = cmd.Args[0], files
	p := daemontest.Start(t, cmd)
	ns.Await(t, `^READY=1\n`, startTimeout)

	l, _ := p.Line("controller ready")
	if daemontest.LogAttr(l, "http") != addrs[0] || daemontest.LogAttr(l, "https") != addrs[1] {
		t.Errorf("ready line %q: want http on %s and https on %s", l, addrs[0], addrs[1])
	}
	daemontest.Post(t, addrs[0], event(t, "image-scan.json"))
	if got := httpsPing(t, addrs[1], filepath.Join(filepath.Dir(d.settings), "state", "tls", "https-selfsigned.crt")); got != "pong\n" {
		t.Errorf("GET https://%s/ping: %q", addrs[1], got)
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// httpsPing gets /ping over TLS, trusting only the daemon's certificate.
func httpsPing(t *testing.T, addr, certFile string) string {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(daemontest.ReadFile(t, certFile))) {
		t.Fatalf("no certificate in %s", certFile)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := c.Get("https://" + addr + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestCheckUnits runs scripts/check-units: systemd-analyze verify and
// security on the units, and the socket names the daemons look up.
func TestCheckUnits(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	out, err := exec.Command(filepath.Join("..", "..", "scripts", "check-units")).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/check-units: %v\n%s", err, out)
	}
}
