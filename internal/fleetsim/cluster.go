package fleetsim

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
)

// The cluster topology runs the same 3-node nats-server cluster as the
// tests of external mode: natsdtest.StartCluster, given a testing.TB that
// turns a failure into an error of the simulation and keeps its files in
// the simulation's directory.

// harnessTB is the part of testing.TB that natsdtest.StartCluster uses;
// anything else it called would panic on the nil embedded TB, and Start
// turns that panic into an error too.
type harnessTB struct {
	testing.TB
	dir string

	mu       sync.Mutex
	n        int
	cleanups []func()
}

type tbFailure struct{ msg string }

func (t *harnessTB) Helper() {}

func (t *harnessTB) Fatal(args ...any) { panic(tbFailure{fmt.Sprint(args...)}) }

func (t *harnessTB) Fatalf(format string, args ...any) {
	panic(tbFailure{fmt.Sprintf(format, args...)})
}

func (t *harnessTB) TempDir() string {
	t.mu.Lock()
	t.n++
	n := t.n
	t.mu.Unlock()
	dir := filepath.Join(t.dir, fmt.Sprintf("nats-%d", n))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (t *harnessTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *harnessTB) Logf(format string, args ...any) {}

// Failed is false: a failure panics (Fatal) and ends the simulation.
func (t *harnessTB) Failed() bool { return false }

// close runs the cleanups, last first: the servers are killed.
func (t *harnessTB) close() {
	t.mu.Lock()
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// natsCluster is the running cluster.
type natsCluster struct {
	*natsdtest.Cluster
	tb    *harnessTB
	procs []*process
}

// startCluster starts 3 nats-servers including fragment, with TLS and
// client verification against caFile; bin is the nats-server binary ("":
// natsdtest builds it, or $POSTEED_NATS_SERVER).
func startCluster(dir, bin, fragment, certFile, keyFile, caFile string) (nc *natsCluster, err error) {
	if bin != "" {
		if err := os.Setenv("POSTEED_NATS_SERVER", bin); err != nil {
			return nil, err
		}
	}
	tb := &harnessTB{dir: dir}
	defer func() {
		if r := recover(); r != nil {
			tb.close()
			if f, ok := r.(tbFailure); ok {
				err = fmt.Errorf("nats cluster: %s", f.msg)
				return
			}
			err = fmt.Errorf("nats cluster: %v", r)
		}
	}()
	before := map[int]bool{}
	for _, pid := range children("nats-server") {
		before[pid] = true
	}
	c := natsdtest.StartCluster(tb, natsdtest.ClusterOptions{Fragment: fragment, CertFile: certFile, KeyFile: keyFile, CAFile: caFile})
	nc = &natsCluster{Cluster: c, tb: tb}
	for _, pid := range children("nats-server") {
		if !before[pid] {
			nc.procs = append(nc.procs, &process{Name: fmt.Sprintf("nats-server-%d", len(nc.procs)+1), Pid: pid})
		}
	}
	if len(nc.procs) != len(c.Servers) {
		tb.close()
		return nil, fmt.Errorf("nats cluster: %d server processes found, want %d", len(nc.procs), len(c.Servers))
	}
	return nc, nil
}

func (nc *natsCluster) close() { nc.tb.close() }

// problems are the warnings and errors of every server's log.
func (nc *natsCluster) problems() []problem {
	w := newLogWatch()
	for _, s := range nc.Servers {
		for _, line := range strings.Split(s.Log(), "\n") {
			w.line(time.Time{}, line)
		}
	}
	return w.problems()
}
