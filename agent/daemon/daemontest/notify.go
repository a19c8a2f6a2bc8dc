// Package daemontest runs the daemons' binaries as systemd would: it plays
// the service manager's end of NOTIFY_SOCKET, starts subprocesses with a
// clean systemd environment and waits on their logs and exit.
package daemontest

import (
	"net"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// NotifySocket is systemd's side of the sd_notify(3) protocol: a datagram
// socket whose path goes into the daemon's NOTIFY_SOCKET.
type NotifySocket struct {
	Path string
	msgs chan string
}

// NewNotifySocket listens on a fresh socket in a temporary directory. Every
// datagram is kept, in order, until Await consumes it.
func NewNotifySocket(t *testing.T) *NotifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &NotifySocket{Path: path, msgs: make(chan string, 4096)}
	go s.read(conn)
	t.Cleanup(func() { _ = conn.Close() })
	return s
}

func (s *NotifySocket) read(conn *net.UnixConn) {
	defer close(s.msgs)
	buf := make([]byte, 64<<10)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		s.msgs <- string(buf[:n])
	}
}

// Env is the NOTIFY_SOCKET assignment for the daemon's environment.
func (s *NotifySocket) Env() string { return "NOTIFY_SOCKET=" + s.Path }

// Await consumes datagrams until one matches the regular expression re and
// returns it with the datagrams consumed before it, so callers can assert
// what did or did not come first. It fails the test after timeout.
func (s *NotifySocket) Await(t *testing.T, re string, timeout time.Duration) (string, []string) {
	t.Helper()
	want := regexp.MustCompile(re)
	deadline := time.After(timeout)
	var before []string
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				t.Fatalf("notify socket closed while waiting for %q; got %q", re, before)
			}
			if want.MatchString(m) {
				return m, before
			}
			before = append(before, m)
		case <-deadline:
			t.Fatalf("no notification matching %q within %s; got %q", re, timeout, before)
		}
	}
}
