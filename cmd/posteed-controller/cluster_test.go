package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
	"github.com/postee-fleet/posteed/agent/pki"
	"github.com/postee-fleet/posteed/agent/runner"
	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
)

// TestClusterSurvivesControllerAndServerKill: two controllers (this
// package's binary) share a 3-node NATS cluster; two runners take their
// work. 500 events are posted to both controllers; in the middle one
// controller is killed (SIGKILL; started again 2 s later, as systemd
// would) and then one NATS server (SIGKILL, left down). Every event a
// controller accepted (200) ran its controller action once, its
// runner-1 action once and its @origin action once, on some controller
// and runner; nothing ran twice.
func TestClusterSurvivesControllerAndServerKill(t *testing.T) {
	x := newClusterRig(t)
	a, b := x.startController(t, "a"), x.startController(t, "b")
	x.startRunner(t, "postee-runner-1", "node-1")
	x.startRunner(t, "postee-runner-2", "node-2")

	const total = 500
	var mu sync.Mutex
	var accepted []string
	refused := 0
	next := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second}
			for i := range next {
				ctl := a
				if i%2 == 1 {
					ctl = b
				}
				id, ok := post(c, ctl.addr, x.event(i))
				mu.Lock()
				if ok {
					accepted = append(accepted, id)
				} else {
					refused++
				}
				mu.Unlock()
			}
		})
	}
	for i := range total {
		switch i {
		case 150:
			a.kill(t)
			go func() { time.Sleep(2 * time.Second); a.restart(t) }()
		case 320:
			x.cluster.Servers[2].Kill()
		}
		next <- i
		time.Sleep(5 * time.Millisecond) // a steady stream, not one burst
	}
	close(next)
	wg.Wait()
	t.Logf("%d events accepted, %d refused while a controller was down", len(accepted), refused)
	if len(accepted) < total/2 {
		t.Fatalf("only %d of %d events accepted", len(accepted), total)
	}

	for _, out := range []string{x.ctlOut, x.r1Out, x.originOut} {
		deadline := time.Now().Add(2 * time.Minute)
		for missing(out, accepted) > 0 {
			if time.Now().After(deadline) {
				for _, id := range missingIDs(out, accepted) {
					t.Logf("%s never ran; what the controllers logged of it:\n%s", id, grepAll(id, a.logs(), b.logs()))
				}
				a.dump(t, "a")
				b.dump(t, "b")
				t.Fatalf("%s: %d accepted events never ran", filepath.Base(out), missing(out, accepted))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(3 * time.Second) // room for a repeat that should not happen
	for _, out := range []string{x.ctlOut, x.r1Out, x.originOut} {
		counts := countLines(out)
		for id, n := range counts {
			if n > 1 {
				t.Errorf("%s: event %s ran %d times", filepath.Base(out), id, n)
			}
		}
		if extra := len(counts) - len(accepted); extra > refused {
			t.Errorf("%s: %d events ran that no post accounts for", filepath.Base(out), extra-refused)
		}
	}
}

type clusterRig struct {
	dir                      string
	certs                    string
	cluster                  *natsdtest.Cluster
	cfg                      string
	ctlOut, r1Out, originOut string
	base                     string // the event posted, hostName to be replaced
}

func newClusterRig(t *testing.T) *clusterRig {
	t.Helper()
	dir := t.TempDir()
	x := &clusterRig{dir: dir, certs: filepath.Join(dir, "tls"), cfg: filepath.Join(dir, "cfg.yaml"),
		ctlOut: filepath.Join(dir, "controller.out"), r1Out: filepath.Join(dir, "runner-1.out"), originOut: filepath.Join(dir, "origin.out")}
	ca, _, err := pki.OpenCA(x.certs)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(kind pki.Kind, name string, hosts ...string) {
		crt, key, err := ca.Issue(kind, name, hosts, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := pki.WritePair(x.certs, name, crt, key); err != nil {
			t.Fatal(err)
		}
	}
	issue(pki.Server, "controller", "localhost", "127.0.0.1")
	issue(pki.Client, "postee-runner-1", "node-1")
	issue(pki.Client, "postee-runner-2", "node-2")

	// The fragment, as an operator gets it.
	toml := filepath.Join(dir, "nats-config.toml")
	writeFile(t, toml, x.natsTOML())
	cmd := exec.Command(bin, "nats-config", "--config", toml)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	fragment, err := cmd.Output()
	if err != nil {
		t.Fatalf("nats-config: %v\n%s", err, stderr.String())
	}
	x.cluster = natsdtest.StartCluster(t, natsdtest.ClusterOptions{Fragment: string(fragment),
		CertFile: x.cert("controller.crt"), KeyFile: x.cert("controller.key"), CAFile: x.cert("ca.crt"),
		ProbeSeed: x.cert("nats-user.nk")})

	writeFile(t, x.cfg, fmt.Sprintf(`name: cluster-crash
routes:
- name: all
  input: contains(input.hostName, "node-")
  actions: [ctl-note, r1-note, origin-note]
  template: raw-json
templates:
- name: raw-json
  rego-package: postee.rawmessage.json
actions:
- name: ctl-note
  type: exec
  enable: true
  exec-script: echo "$POSTEE_EVENT_ID" >> %q
- name: r1-note
  type: exec
  enable: true
  runs-on: postee-runner-1
  exec-script: echo "$POSTEE_EVENT_ID" >> %q
- name: origin-note
  type: exec
  enable: true
  runs-on: "@origin"
  exec-script: echo "$POSTEE_EVENT_ID" >> %q
`, x.ctlOut, x.r1Out, x.originOut))
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", "tracee-finding.json"))
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		t.Fatal(err)
	}
	x.base = compact.String()
	return x
}

func (x *clusterRig) cert(name string) string { return filepath.Join(x.certs, name) }

// natsTOML is what every controller's controller.toml says of the cluster.
func (x *clusterRig) natsTOML() string {
	return fmt.Sprintf("nats-issuer-seed = %q\nnats-user-seed = %q\ncontroller-tls-cert = %q\ncontroller-tls-key = %q\ncontroller-ca-root = %q\n",
		x.cert("nats-issuer.nk"), x.cert("nats-user.nk"), x.cert("controller.crt"), x.cert("controller.key"), x.cert("ca.crt"))
}

// event i: the Tracee finding from node-1 or node-2.
func (x *clusterRig) event(i int) []byte {
	host := fmt.Sprintf("node-%d", 1+i%2)
	return []byte(strings.Replace(x.base, `"hostName":"node-1"`, `"hostName":"`+host+`"`, 1))
}

type clusterController struct {
	addr, toml string
	mu         sync.Mutex
	proc       *daemontest.Proc
	procs      []*daemontest.Proc
}

func (x *clusterRig) startController(t *testing.T, name string) *clusterController {
	t.Helper()
	c := &clusterController{addr: daemontest.FreeAddr(t), toml: filepath.Join(x.dir, "controller-"+name+".toml")}
	writeFile(t, c.toml, fmt.Sprintf("cfgfile = %q\nurl = %q\nadmin = \"\"\ntls = \"\"\nstate-dir = %q\nlog-level = \"debug\"\nnats-servers = %q\n",
		x.cfg, c.addr, filepath.Join(x.dir, "state-"+name), x.cluster.URLs())+x.natsTOML())
	c.restart(t)
	return c
}

func (c *clusterController) restart(t *testing.T) {
	t.Helper()
	// As systemd would (Restart=on-failure, RestartSec=2s): a controller
	// that exits while starting (its cluster busy electing leaders after
	// the kill) is started again.
	var p *daemontest.Proc
	for attempt := 1; ; attempt++ {
		cmd := exec.Command(bin, "--config="+c.toml)
		cmd.Env = daemontest.Env()
		p = daemontest.Start(t, cmd)
		if attempt == 5 {
			p.AwaitLog(t, "controller ready", 60*time.Second)
			break
		}
		if waitReady(p, 60*time.Second) {
			break
		}
		t.Logf("controller exited while starting (attempt %d), started again in 2 s:\n%s", attempt, p.Stderr())
		time.Sleep(2 * time.Second)
	}
	c.mu.Lock()
	c.proc = p
	c.procs = append(c.procs, p)
	c.mu.Unlock()
}

// waitReady: true once p logged "controller ready", false if it exited
// first (or never got there).
func waitReady(p *daemontest.Proc, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, ok := p.Line("controller ready"); ok {
			return true
		}
		select {
		case <-p.Exited():
			_, ok := p.Line("controller ready")
			return ok
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

// logs is the stderr of every process this controller ran.
func (c *clusterController) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, p := range c.procs {
		b.WriteString(p.Stderr())
	}
	return b.String()
}

func (c *clusterController) kill(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.proc.Signal(t, syscall.SIGKILL)
	<-c.proc.Exited()
}

// dump makes the live process print its goroutines (SIGQUIT) and keeps
// its stderr where the test's temporary directory is not removed.
func (c *clusterController) dump(t *testing.T, name string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.proc.Signal(t, syscall.SIGQUIT)
	select {
	case <-c.proc.Exited():
	case <-time.After(10 * time.Second):
	}
	f, err := os.CreateTemp("", "posteed-cluster-"+name+"-*.stderr")
	if err != nil {
		t.Log(err)
		return
	}
	defer f.Close()
	f.WriteString(c.proc.Stderr())
	t.Logf("controller %s's last stderr with its goroutines: %s", name, f.Name())
}

func (x *clusterRig) startRunner(t *testing.T, name, host string) {
	t.Helper()
	state := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := runner.New(ctx, runner.Options{Settings: runner.Settings{
		Name: name, ControllerURL: x.cluster.URLs(), TLSCert: x.cert(name + ".crt"), TLSKey: x.cert(name + ".key"), CARoot: x.cert("ca.crt"),
		StateDir: state, RuntimeDir: filepath.Join(state, "run"), BodyLimit: 1 << 20,
	}, Logger: slog.New(slog.DiscardHandler), Hostname: host, MachineID: "m-" + name, Version: "test"})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-r.Ready():
	case err := <-done:
		t.Fatalf("runner %s: %v", name, err)
	case <-time.After(60 * time.Second):
		t.Fatalf("runner %s not ready", name)
	}
}

// post sends an event; ok when the controller answered 200.
func post(c *http.Client, addr string, body []byte) (string, bool) {
	resp, err := c.Post("http://"+addr+"/", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var ans daemontest.Answer
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &ans) != nil || ans.EventID == "" {
		return "", false
	}
	return ans.EventID, true
}

func countLines(file string) map[string]int {
	b, _ := os.ReadFile(file)
	n := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			n[l]++
		}
	}
	return n
}

func missing(file string, ids []string) int { return len(missingIDs(file, ids)) }

func missingIDs(file string, ids []string) []string {
	got := countLines(file)
	var out []string
	for _, id := range ids {
		if got[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// grepAll is every line of logs naming id.
func grepAll(id string, logs ...string) string {
	var b strings.Builder
	for i, l := range logs {
		for line := range strings.Lines(l) {
			if strings.Contains(line, id) {
				fmt.Fprintf(&b, "[%d] %s", i, line)
			}
		}
	}
	return b.String()
}
