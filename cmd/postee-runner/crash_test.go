package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
	"github.com/postee-fleet/posteed/agent/transport"
)

// TestLocalActionsExactlyOnceAcrossSIGKILL: a runner whose own exec action
// appends each event's id to a file is killed (SIGKILL, not a stop) at
// random points of a burst of 2,000 Tracee lines and 500 webhook events,
// and started again each time. Afterwards every line's and every answered
// event's id is in the file exactly once, and no id twice. Ten runs in a
// row (POSTEED_CRASH_RUNS sets another number).
func TestLocalActionsExactlyOnceAcrossSIGKILL(t *testing.T) {
	runs := 10
	if n, err := strconv.Atoi(os.Getenv("POSTEED_CRASH_RUNS")); err == nil {
		runs = n
	}
	for i := range runs {
		t.Run(fmt.Sprint(i), func(t *testing.T) { crashRun(t, rand.New(rand.NewPCG(uint64(i), 15))) })
	}
}

const (
	crashLines    = 2000
	crashWebhooks = 500
)

type crashRig struct {
	t      *testing.T
	dir    string
	toml   string
	addr   string
	socket *os.File // the intake's listening socket
	out    string
	tracee string

	noKill bool

	mu    sync.Mutex
	proc  *daemontest.Proc   // guarded by mu
	procs []*daemontest.Proc // guarded by mu
	kills int                // guarded by mu
}

func crashRun(t *testing.T, rng *rand.Rand) {
	x := newCrashRig(t)
	x.noKill = os.Getenv("POSTEED_CRASH_NOKILL") != ""
	if err := x.start(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	killerDone := make(chan struct{})
	go func() { // the crashes, at random points of the burst
		defer close(killerDone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(150+rng.IntN(450)) * time.Millisecond):
				if x.noKill {
					continue
				}
				if err := x.kill(); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	var wg sync.WaitGroup
	wg.Go(x.writeLines)
	answered := make(chan string, crashWebhooks)
	wg.Go(func() { x.postEvents(answered) })
	wg.Wait()
	close(stop)
	<-killerDone
	close(answered)

	// Every line and every answered event ran its action; nothing ran
	// twice (a killed runner's orphaned scripts finish too: wait for them
	// all, then check that no id is there twice).
	want := crashLines + len(answered)
	var answeredIDs []string
	for id := range answered {
		answeredIDs = append(answeredIDs, id)
	}
	// Wait for every line and every answered event by name: a count would
	// also count events whose answer the kill cut off but that were
	// spooled and run all the same.
	allRan := func(ids, titles map[string]int) bool {
		for seq := range crashLines {
			if titles[fmt.Sprint("line-", seq)] == 0 {
				return false
			}
		}
		for _, id := range answeredIDs {
			if ids[id] == 0 {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(90 * time.Second)
	var ids map[string]int
	var titles map[string]int
	for {
		ids, titles = x.read()
		if allRan(ids, titles) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a late second run would show by now
	ids, titles = x.read()
	for id, n := range ids {
		if n != 1 {
			t.Errorf("event %s ran %d times", id, n)
		}
	}
	for seq := range crashLines {
		if titles[fmt.Sprint("line-", seq)] == 0 {
			t.Errorf("line %d never ran its action", seq)
		}
	}
	for _, id := range answeredIDs {
		if ids[id] != 1 {
			t.Errorf("webhook event %s answered 200 ran %d times", id, ids[id])
		}
	}
	x.mu.Lock()
	kills := x.kills
	if t.Failed() {
		for i, p := range x.procs {
			for _, l := range strings.Split(p.Stderr(), "\n") {
				if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") && !strings.Contains(l, "unreachable") {
					t.Logf("runner %d: %s", i, l)
				}
			}
		}
	}
	x.mu.Unlock()
	t.Logf("%d kills; %d action runs for %d lines and %d answered events", kills, sum(ids), crashLines, want-crashLines)
	if kills == 0 {
		t.Error("the runner was never killed during the burst")
	}
	x.stop()
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func newCrashRig(t *testing.T) *crashRig {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	socket, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // the duplicate in socket stays bound
	t.Cleanup(func() { socket.Close() })
	x := &crashRig{t: t, dir: dir, addr: ln.Addr().String(), socket: socket, out: filepath.Join(dir, "ran"), tracee: filepath.Join(dir, "tracee.json")}
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(x.tracee, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The controller is unreachable: the runner works from its cached slice.
	sl := &transport.Slice{Runner: "x", Revision: 1, Epoch: "e", Config: fmt.Sprintf(`routes:
- name: contain
  template: seq
  actions: [record]
templates:
- name: seq
  body: |
    title := sprintf("line-%%v", [input.seq]) if { input.seq }
    title := sprintf("hook-%%v", [input.hook]) if { input.hook }
    result := "contained"
actions:
- name: record
  type: exec
  enable: true
  runs-on: x
  exec-script: 'echo "$POSTEE_EVENT_ID $POSTEE_TITLE" >> %s'
`, x.out)}
	sl.Digest = transport.SliceDigest(sl)
	b, _ := json.Marshal(sl)
	if err := os.WriteFile(filepath.Join(state, "slice.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	x.toml = filepath.Join(dir, "runner.toml")
	toml := fmt.Sprintf(`runner-name = "x"
controller-url = "nats://127.0.0.1:1"
url = %q
tls = ""
admin = ""
state-dir = %q
runtime-dir = %q
tracee-from-start = true

[discovery]
tracee-files = [%q]
`, x.addr, state, filepath.Join(dir, "run"), x.tracee)
	if err := os.WriteFile(x.toml, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return x
}

// start runs the runner and waits until its intake answers. The intake's
// socket is the test's, passed to every runner as systemd's socket unit
// passes it: it stays bound while the runner restarts.
func (x *crashRig) start() error {
	cmd := exec.Command(bin, "--config="+x.toml)
	cmd.Env = daemontest.Env("LISTEN_FDS=1", "LISTEN_FDNAMES=http")
	cmd.Args = daemontest.WithPID("LISTEN_PID", cmd.Args...)
	cmd.Path = cmd.Args[0]
	cmd.ExtraFiles = []*os.File{x.socket}
	p := daemontest.Start(x.t, cmd)
	x.mu.Lock()
	x.proc = p
	x.procs = append(x.procs, p)
	x.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + x.addr + "/ping"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("runner did not come up; stderr:\n%s", p.Stderr())
}

// kill crashes the runner and starts it again.
func (x *crashRig) kill() error {
	x.mu.Lock()
	p := x.proc
	x.kills++
	x.mu.Unlock()
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		return errors.New("the runner outlived SIGKILL")
	}
	return x.start()
}

func (x *crashRig) stop() {
	x.mu.Lock()
	p := x.proc
	x.mu.Unlock()
	p.Signal(x.t, syscall.SIGTERM)
	if code := p.Wait(x.t, 60*time.Second); code != 0 {
		x.t.Errorf("exit code %d after SIGTERM; stderr:\n%s", code, p.Stderr())
	}
}

// writeLines appends the Tracee lines in small bursts, as Tracee writes.
func (x *crashRig) writeLines() {
	f, err := os.OpenFile(x.tracee, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		x.t.Error(err)
		return
	}
	defer f.Close()
	for seq := 0; seq < crashLines; seq += 20 {
		var b bytes.Buffer
		for i := seq; i < seq+20; i++ {
			fmt.Fprintf(&b, `{"seq":%d,"eventName":"anti_debugging","hostName":"node-1"}`+"\n", i)
		}
		if _, err := f.Write(b.Bytes()); err != nil {
			x.t.Error(err)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// postEvents posts the webhook events, each until it is answered 200 (a
// post the crash cut off is sent again: the runner may have taken it, and
// then runs it under its first id too).
func (x *crashRig) postEvents(answered chan<- string) {
	c := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for i := range crashWebhooks {
		body := fmt.Sprintf(`{"hook":%d}`, i)
		for {
			if time.Now().After(deadline) {
				x.mu.Lock()
				x.t.Errorf("webhook event %d never answered 200; runner stderr:\n%s", i, x.proc.Stderr())
				x.mu.Unlock()
				return
			}
			resp, err := c.Post("http://"+x.addr+"/", "application/json", strings.NewReader(body))
			if err == nil {
				var a daemontest.Answer
				err = json.NewDecoder(resp.Body).Decode(&a)
				resp.Body.Close()
				if err == nil && resp.StatusCode == http.StatusOK {
					answered <- a.EventID
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// read counts the action runs by event id and by title.
func (x *crashRig) read() (ids, titles map[string]int) {
	ids, titles = map[string]int{}, map[string]int{}
	f, err := os.Open(x.out)
	if err != nil {
		return ids, titles
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, title, ok := strings.Cut(sc.Text(), " ")
		if ok {
			ids[id]++
			titles[title]++
		}
	}
	return ids, titles
}
