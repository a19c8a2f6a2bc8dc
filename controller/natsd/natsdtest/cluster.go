package natsdtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A Cluster is real nats-server processes forming one cluster on loopback,
// TLS with client certificates verified, each with JetStream: what an
// operator runs, for the tests of external mode. The binary is built from
// the nats-server module this one requires, or is $POSTEED_NATS_SERVER
// (scripts/test-nats-versions runs the tests against the oldest release
// supported).
type Cluster struct {
	Servers   []*ClusterServer
	dir       string
	abandoned bool // killed by StartCluster for another attempt
}

// ClusterOptions describe the cluster.
type ClusterOptions struct {
	N int // servers; default 3
	// Fragment is included at the top level of every server's config
	// (posteed-controller nats-config's output).
	Fragment string
	// CertFile and KeyFile are the servers' certificate (for clients and
	// routes); CAFile verifies every client's and route's certificate.
	CertFile, KeyFile, CAFile string
	// ProbeSeed, when set, is the nkey seed file of a user of the fleet's
	// account (the controllers'): StartCluster then returns only once a
	// replicated stream can be created there and a message stored and read
	// back (probe.go), starting the servers again (new ports, new stores)
	// when a cluster cannot within probeWait.
	ProbeSeed string
}

// ClusterServer is one nats-server process.
type ClusterServer struct {
	Name    string
	URL     string // tls://127.0.0.1:PORT
	conf    string
	monitor string
	log     string

	mu  sync.Mutex
	cmd *exec.Cmd // guarded by mu; nil while stopped
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// ServerBinary is the nats-server binary the cluster tests run.
func ServerBinary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("POSTEED_NATS_SERVER"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "posteed-test-nats-server")
		if buildErr = os.MkdirAll(dir, 0o755); buildErr != nil {
			return
		}
		built = filepath.Join(dir, "nats-server")
		// go test puts its own go command first in PATH; the build cache
		// makes this a link after the first time.
		out, err := exec.Command("go", "build", "-o", built, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build nats-server: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// StartCluster starts the servers and waits until JetStream is up on each;
// they are killed when t ends (and with the test process).
func StartCluster(t testing.TB, o ClusterOptions) *Cluster {
	t.Helper()
	if o.N == 0 {
		o.N = 3
	}
	for attempt := 1; ; attempt++ {
		c := startCluster(t, o)
		if o.ProbeSeed == "" {
			return c
		}
		err := c.probe(o)
		if err == nil {
			return c
		}
		t.Logf("nats-servers started (attempt %d) but JetStream unusable after %s: %v\n%s", attempt, probeWait, err, c.metaState())
		if attempt == probeAttempts {
			t.Fatalf("no usable nats-server cluster in %d attempts", probeAttempts)
		}
		c.kill()
	}
}

func startCluster(t testing.TB, o ClusterOptions) *Cluster {
	t.Helper()
	bin := ServerBinary(t)
	c := &Cluster{dir: t.TempDir()}
	routes := make([]string, o.N)
	clients := make([]string, o.N)
	monitors := make([]string, o.N)
	for i := range o.N {
		routes[i], clients[i], monitors[i] = freeAddr(t), freeAddr(t), freeAddr(t)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "posteed.conf"), []byte(o.Fragment), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range o.N {
		name := fmt.Sprintf("n%d", i+1)
		var peers []string
		for j, r := range routes {
			if j != i {
				peers = append(peers, fmt.Sprintf("%q", "nats-route://"+r))
			}
		}
		tlsBlock := fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  verify: true\n  timeout: 5\n}\n", o.CertFile, o.KeyFile, o.CAFile)
		conf := fmt.Sprintf(`server_name: %s
listen: %q
http: %q
jetstream {
  store_dir: %q
  max_memory_store: 64MB
  max_file_store: 64GB
}
%s
cluster {
  name: posteed-test
  listen: %q
  routes: [ %s ]
  %s}
include "posteed.conf"
`, name, clients[i], monitors[i], filepath.Join(c.dir, name, "jetstream"), tlsBlock, routes[i], strings.Join(peers, ", "), tlsBlock)
		s := &ClusterServer{Name: name, URL: "tls://" + clients[i], conf: filepath.Join(c.dir, name+".conf"),
			monitor: monitors[i], log: filepath.Join(c.dir, name+".log")}
		if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		c.Servers = append(c.Servers, s)
	}
	for _, s := range c.Servers {
		s.start(t, bin)
	}
	t.Cleanup(func() {
		for _, s := range c.Servers {
			s.Kill()
			if t.Failed() && !c.abandoned {
				t.Logf("nats-server %s log (end):\n%s", s.Name, tail(s.Log(), 3000))
			}
		}
	})
	c.WaitReady(t)
	return c
}

// URLs are every server's client URL, comma-separated.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.URL
	}
	return strings.Join(urls, ",")
}

// WaitReady waits until every running server reports JetStream healthy.
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	for _, s := range c.Servers {
		if s.running() {
			s.WaitReady(t)
		}
	}
}

func (s *ClusterServer) start(t testing.TB, bin string) {
	t.Helper()
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-c", s.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server dies with the test process, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
}

// Restart starts a killed server again, on the same ports and store.
func (s *ClusterServer) Restart(t testing.TB) {
	t.Helper()
	s.start(t, ServerBinary(t))
	s.WaitReady(t)
}

// Kill stops the server with SIGKILL: no goodbye to its peers or clients.
func (s *ClusterServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		s.cmd = nil
	}
}

func (s *ClusterServer) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// WaitReady waits until the server answers /healthz (JetStream current).
func (s *ClusterServer) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + s.monitor + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(s.log)
			t.Fatalf("nats-server %s not healthy after 60 s:\n%s", s.Name, tail(string(b), 4000))
		}
		time.Sleep(100 * time.Millisecond) // polling: the server has no readiness signal to wait on
	}
}

// Log is the server's log so far.
func (s *ClusterServer) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// handedOut holds every port freeAddr gave in this test process: a port
// is free when picked, and stays unused until its server binds it, so two
// servers (of one cluster or of two tests in parallel) never get the same
// one. Listening and closing alone did not see that: a cluster got one
// route port twice, and its third server died on "address already in use".
var handedOut sync.Map

func freeAddr(t testing.TB) string {
	t.Helper()
	// Below the kernel's ephemeral range (ip_local_port_range starts at
	// 32768): a port picked there can be taken by any outgoing connection,
	// or another ":0" listener, before the server binds it.
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr
	}
	t.Fatal("no free loopback port in 20000-31999")
	return ""
}
