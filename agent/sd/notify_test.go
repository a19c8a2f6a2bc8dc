package sd

import (
	"net"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// notifySocket plays systemd's side of NOTIFY_SOCKET.
type notifySocket struct {
	t    *testing.T
	path string
	conn *net.UnixConn
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &notifySocket{t: t, path: path, conn: conn}
}

// messages returns everything received so far. It sends itself a sentinel
// and reads up to it: the socket is FIFO, so nothing sent before can be
// missed and there is nothing to wait for.
func (s *notifySocket) messages() []string {
	s.t.Helper()
	const sentinel = "TEST_SENTINEL=1"
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(sentinel)); err != nil {
		s.t.Fatal(err)
	}
	var got []string
	buf := make([]byte, 4096)
	// The deadline only guards against a broken test; the sentinel is queued.
	_ = s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			s.t.Fatalf("read notify socket: %v", err)
		}
		if string(buf[:n]) == sentinel {
			return got
		}
		got = append(got, string(buf[:n]))
	}
}

func TestNotifierMessages(t *testing.T) {
	tests := []struct {
		name string
		do   func(n *Notifier) error
		want []string // regular expressions, one per datagram
	}{
		{"ready with status", func(n *Notifier) error { return n.Ready("3 runners connected, cfg rev 12") },
			[]string{`^READY=1\nSTATUS=3 runners connected, cfg rev 12$`}},
		{"ready alone", func(n *Notifier) error { return n.Ready("") }, []string{`^READY=1$`}},
		{"status on one line", func(n *Notifier) error { return n.Status("cfg rev 12\nSTOPPING=1") },
			[]string{`^STATUS=cfg rev 12 STOPPING=1$`}},
		{"reload bracket", func(n *Notifier) error {
			if err := n.Reloading(); err != nil {
				return err
			}
			return n.Ready("cfg rev 13")
		}, []string{`^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*$`, `^READY=1\nSTATUS=cfg rev 13$`}},
		{"stopping", func(n *Notifier) error { return n.Stopping() }, []string{`^STOPPING=1$`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := newNotifySocket(t)
			if err := tt.do(NewNotifier(nil)); err != nil {
				t.Fatal(err)
			}
			got := sock.messages()
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %d messages matching %q", got, len(tt.want), tt.want)
			}
			for i, re := range tt.want {
				if !regexp.MustCompile(re).MatchString(got[i]) {
					t.Errorf("message %d = %q, want match for %q", i, got[i], re)
				}
			}
		})
	}
}

func TestNotifierOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := NewNotifier(nil)
	for name, err := range map[string]error{
		"Ready": n.Ready("x"), "Reloading": n.Reloading(), "Status": n.Status("x"), "Stopping": n.Stopping(),
	} {
		if err != nil {
			t.Errorf("%s: %v, want nil outside systemd", name, err)
		}
	}
}

func TestNotifierSocketGone(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing"))
	if err := NewNotifier(nil).Ready(""); err == nil {
		t.Fatal("Ready to a missing socket: nil error")
	}
}
