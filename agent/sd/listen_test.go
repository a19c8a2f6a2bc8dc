package sd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// activationHelper is the daemon systemd-socket-activate starts: it serves
// one line on each named socket and answers with the name it found it under.
func activationHelper() int {
	activated, err := Listeners("http", "https")
	if err != nil {
		fmt.Println("error:", err)
		return 0
	}
	if v := os.Getenv("LISTEN_FDS"); v != "" {
		fmt.Println("error: LISTEN_FDS still set:", v)
	}
	for _, name := range []string{"http", "https"} {
		l, err := Listen(activated, name, "")
		if err != nil {
			fmt.Println("error:", err)
			return 0
		}
		if err := answerOne(l, name); err != nil {
			fmt.Println("error:", err)
		}
	}
	return 0
}

func answerOne(l net.Listener, name string) error {
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c, "%s got %s", name, line)
	return err
}

// TestListenersSocketActivated lets the real systemd-socket-activate bind
// two unix sockets and pass them, named, to this test binary. That tool
// execs the daemon only on the first connection, so every connection here is
// made before the daemon runs and must wait in the listen backlog.
func TestListenersSocketActivated(t *testing.T) {
	tool, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed (Debian: systemd package)")
	}
	tests := []struct {
		name      string
		fdnames   string
		want      []string // reply on the first and second socket
		wantError string   // in the helper's output
	}{
		{"named", "http:https", []string{"http got ping 0\n", "https got ping 1\n"}, ""},
		{"by name, not by order", "https:http", []string{"https got ping 0\n", "http got ping 1\n"}, ""},
		{"unknown name", "http:htps", []string{"", ""}, `activated socket named "htps"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			replies, out := runActivated(t, tool, tt.fdnames)
			for i, want := range tt.want {
				if replies[i] != want {
					t.Errorf("socket %d replied %q, want %q", i, replies[i], want)
				}
			}
			if tt.wantError == "" && out != "" || !strings.Contains(out, tt.wantError) {
				t.Errorf("helper output %q, want %q", out, tt.wantError)
			}
		})
	}
}

// runActivated starts the helper under systemd-socket-activate, sends a line
// to each socket and returns the replies and the helper's output.
func runActivated(t *testing.T, tool, fdnames string) ([]string, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	socks := []string{filepath.Join(dir, "a.sock"), filepath.Join(dir, "b.sock")}
	cmd := exec.Command(tool, "-l", socks[0], "-l", socks[1], "--fdname="+fdnames,
		"-E", helperEnv+"=activation", self)
	var out strings.Builder
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	bound, logDone := watchListening(stderr, len(socks))
	<-bound

	// A socket that fails to connect or to answer gets an empty reply: a
	// helper that refused its sockets may already have closed them.
	conns := make([]net.Conn, len(socks))
	for i, s := range socks {
		if conns[i], err = net.Dial("unix", s); err != nil {
			continue
		}
		defer conns[i].Close()
		_, _ = fmt.Fprintf(conns[i], "ping %d\n", i)
	}
	replies := make([]string, len(socks))
	for i, c := range conns {
		if c == nil {
			continue
		}
		// A guard against a hung helper, not a wait.
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		replies[i] = string(b)
	}
	log := <-logDone
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, log)
	}
	return replies, strings.TrimSpace(out.String())
}

// watchListening closes bound once the tool reported n bound sockets, and
// sends everything it wrote once it exits.
func watchListening(r io.Reader, n int) (<-chan struct{}, <-chan string) {
	bound, done := make(chan struct{}), make(chan string, 1)
	go func() {
		var log strings.Builder
		sc := bufio.NewScanner(r)
		for seen := 0; sc.Scan(); {
			log.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Listening on") {
				if seen++; seen == n {
					close(bound)
				}
			}
		}
		done <- log.String()
	}()
	return bound, done
}

func TestListen(t *testing.T) {
	listen := func(t *testing.T) net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return l
	}
	tests := []struct {
		name      string
		activated func(t *testing.T) map[string][]net.Listener
		addr      string
		wantSame  bool  // the activated "http" listener is returned
		wantErr   error // nil: any error fails; errAny: some error
	}{
		{name: "activated wins over addr", wantSame: true, addr: "127.0.0.1:0",
			activated: func(t *testing.T) map[string][]net.Listener {
				return map[string][]net.Listener{"http": {listen(t)}, "https": {listen(t)}}
			}},
		{name: "binds addr without activation", addr: "127.0.0.1:0"},
		{name: "binds addr when only others are activated", addr: "127.0.0.1:0",
			activated: func(t *testing.T) map[string][]net.Listener {
				return map[string][]net.Listener{"https": {listen(t)}}
			}},
		{name: "nothing to bind", wantErr: ErrNoAddress},
		{name: "bad addr", addr: "127.0.0.1:http-nope", wantErr: errAny},
		{name: "two sockets of one name", addr: "127.0.0.1:0", wantErr: errAny,
			activated: func(t *testing.T) map[string][]net.Listener {
				return map[string][]net.Listener{"http": {listen(t), listen(t)}}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var activated map[string][]net.Listener
			if tt.activated != nil {
				activated = tt.activated(t)
			}
			l, err := Listen(activated, "http", tt.addr)
			if tt.wantErr != nil {
				if err == nil || tt.wantErr != errAny && !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close() })
			if same := len(activated["http"]) > 0 && l == activated["http"][0]; same != tt.wantSame {
				t.Errorf("returned the activated listener: %v, want %v", same, tt.wantSame)
			}
			if l.Addr().Network() != "tcp" {
				t.Errorf("network %q, want tcp", l.Addr().Network())
			}
		})
	}
}

var errAny = errors.New("any error")

func TestListenersWithoutActivation(t *testing.T) {
	t.Setenv("LISTEN_PID", "")
	t.Setenv("LISTEN_FDS", "")
	got, err := Listeners("http", "https")
	if err != nil || len(got) != 0 {
		t.Fatalf("Listeners() = %v, %v; want an empty map", got, err)
	}
}
