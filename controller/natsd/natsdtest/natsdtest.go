// Package natsdtest starts real embedded servers for tests: a fresh CA and
// certificates per test, a random loopback port, a t.TempDir JetStream store.
package natsdtest

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/pki"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/natsd"
)

// PKI is a per-test CA with the controller's certificate issued.
type PKI struct {
	Dir    string
	CA     *pki.CA
	CAFile string
	// CertFile and KeyFile are the controller's server certificate, valid
	// for localhost and 127.0.0.1.
	CertFile, KeyFile string
}

// NewPKI makes a CA and a controller certificate under a temporary dir.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA("posteed test ca")
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteCA(dir, ca); err != nil {
		t.Fatal(err)
	}
	p := &PKI{Dir: dir, CA: ca, CAFile: filepath.Join(dir, pki.CACertFile)}
	p.CertFile, p.KeyFile = p.Issue(t, pki.Server, "controller", "localhost", "127.0.0.1")
	return p
}

// Issue writes a certificate named cn into the PKI dir and returns its files.
func (p *PKI) Issue(t testing.TB, kind pki.Kind, cn string, hosts ...string) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM, err := p.CA.Issue(kind, cn, hosts, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	file := kind.String() + "-" + filepath.Base(cn)
	if err := pki.WritePair(p.Dir, file, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(p.Dir, file+".crt"), filepath.Join(p.Dir, file+".key")
}

// ServerOptions are options for a TLS server with client certificates on a
// random loopback port.
func (p *PKI) ServerOptions(t testing.TB) natsd.Options {
	return natsd.Options{
		Listen:   "127.0.0.1:-1",
		StoreDir: filepath.Join(t.TempDir(), "jetstream"),
		CertFile: p.CertFile,
		KeyFile:  p.KeyFile,
		CAFile:   p.CAFile,
		Logger:   Logger(t),
	}
}

// Runner issues runner's client certificate and returns its options.
func (p *PKI) Runner(t testing.TB, name, url string) transport.ConnOptions {
	t.Helper()
	cert, key := p.Issue(t, pki.Client, name)
	return transport.ConnOptions{URL: url, Name: name, CertFile: cert, KeyFile: key, CAFile: p.CAFile, Logger: Logger(t)}
}

// Start starts a server with o and shuts it down when t ends.
func Start(t testing.TB, o natsd.Options) *natsd.Server {
	t.Helper()
	s, err := natsd.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Fixture is a started TLS server with its PKI.
type Fixture struct {
	*PKI
	Server *natsd.Server
}

// New starts a TLS server requiring client certificates.
func New(t testing.TB) *Fixture {
	t.Helper()
	p := NewPKI(t)
	return &Fixture{PKI: p, Server: Start(t, p.ServerOptions(t))}
}

// Runner connects runner name with its own certificate through
// transport.Connect.
func (f *Fixture) Runner(t testing.TB, name string, extra ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := transport.Connect(context.Background(), f.PKI.Runner(t, name, f.Server.ClientURL()), extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Controller is the controller's connection with the streams in place.
func (f *Fixture) Controller(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := f.Server.ConnectController()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsd.EnsureStreams(ctx, js, natsd.Limits{}); err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// Logger writes warnings and errors to the test log until the test ends;
// later lines (from goroutines still winding down) are dropped.
func Logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool // guarded by mu
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
