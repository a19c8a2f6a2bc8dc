package natsd_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/postee-fleet/posteed/agent/pki"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/natsd"
	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
)

// dial connects once, without retries, so a refusal is an error.
func dial(t *testing.T, url string, opts ...nats.Option) (*nats.Conn, error) {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Timeout(5 * time.Second), nats.NoReconnect()}, opts...)...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

func tlsConfig(t *testing.T, caFile, certFile, keyFile string) *tls.Config {
	t.Helper()
	cfg, err := transport.TLSConfig(certFile, keyFile, caFile)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestClientCertificateIdentity(t *testing.T) {
	f := natsdtest.New(t)
	other := natsdtest.NewPKI(t)
	tests := []struct {
		name   string
		client func() (cert, key string)
		ok     bool
	}{
		{"runner with own certificate", func() (string, string) { return f.Issue(t, pki.Client, "runner-1") }, true},
		{"certificate of another CA", func() (string, string) { return other.Issue(t, pki.Client, "runner-1") }, false},
		{"no client certificate", func() (string, string) { return "", "" }, false},
		{"controller server certificate as client", func() (string, string) { return f.CertFile, f.KeyFile }, false},
		{"reserved controller name", func() (string, string) { return f.Issue(t, pki.Client, transport.ControllerUser) }, false},
		{"name with a dot", func() (string, string) { return f.Issue(t, pki.Client, "runner.1") }, false},
		{"wildcard name", func() (string, string) { return f.Issue(t, pki.Client, "*") }, false},
		{"name with spaces", func() (string, string) { return f.Issue(t, pki.Client, "runner 1") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, key := tt.client()
			nc, err := dial(t, f.Server.ClientURL(), nats.Secure(tlsConfig(t, f.CAFile, cert, key)))
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && err == nil {
				t.Fatalf("accepted as %q", nc.ConnectedServerName())
			}
		})
	}
}

// A runner's certificate plus the controller's user name must not make it
// the controller.
func TestNetworkClientCannotClaimController(t *testing.T) {
	f := natsdtest.New(t)
	cert, key := f.Issue(t, pki.Client, "runner-1")
	errs := make(chan error, 10)
	nc, err := dial(t, f.Server.ClientURL(), nats.Secure(tlsConfig(t, f.CAFile, cert, key)),
		nats.UserInfo(transport.ControllerUser, "guess"), asyncErrors(errs))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(transport.CfgPush("runner-2"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	natsdtest.ExpectViolation(t, errs, "Publish", transport.CfgPush("runner-2"))
}

// In-process clients are driven by hand: net.Pipe is unbuffered, and
// nats.go stops reading after a refused CONNECT, which stalls the server's
// error write until its write deadline.
func TestInProcessNeedsSecret(t *testing.T) {
	f := natsdtest.New(t)
	tests := []struct {
		name    string
		connect string
	}{
		{"wrong secret", `{"user":"posteed-controller","pass":"not-the-secret"}`},
		{"runner name", `{"user":"runner-1"}`},
		{"anonymous", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := f.Server.NATS().InProcessConn()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(conn)
			if _, err := r.ReadString('\n'); err != nil { // INFO
				t.Fatal(err)
			}
			if _, err := conn.Write([]byte("CONNECT " + tt.connect + "\r\nPING\r\n")); err != nil {
				t.Fatal(err)
			}
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(line, "Authorization Violation") {
				t.Fatalf("answer %q, want an authorization violation", line)
			}
		})
	}
	nc, err := f.Server.ConnectController()
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
}

// A client that does not speak TLS gets nowhere, whatever it sends.
func TestPlainConnectionRefused(t *testing.T) {
	f := natsdtest.New(t)
	conn, err := net.DialTimeout("tcp", f.Server.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	info, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, `"tls_required":true`) {
		t.Fatalf("INFO does not require TLS: %s", info)
	}
	if _, err := conn.Write([]byte("CONNECT {\"verbose\":false,\"user\":\"runner-1\"}\r\nSUB posteed.cfg.runner-1 1\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	for {
		line, err := r.ReadString('\n')
		if strings.HasPrefix(line, "PONG") || strings.HasPrefix(line, "MSG") {
			t.Fatalf("plain connection served: %q", line)
		}
		if err != nil {
			return // closed by the server
		}
	}
}

func TestWithoutTLS(t *testing.T) {
	tests := []struct {
		name     string
		insecure bool
		user     string
		ok       bool
	}{
		{"refused without insecure mode", false, "runner-1", false},
		{"demo mode takes the user name", true, "runner-1", true},
		{"demo mode refuses controller name", true, transport.ControllerUser, false},
		{"demo mode refuses bad name", true, "a.b", false},
		{"demo mode refuses empty name", true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := natsdtest.Start(t, natsd.Options{
				Listen: "127.0.0.1:-1", StoreDir: t.TempDir(), InsecureNoAuth: tt.insecure, Logger: natsdtest.Logger(t),
			})
			errs := make(chan error, 10)
			nc, err := dial(t, s.ClientURL(), nats.UserInfo(tt.user, ""), asyncErrors(errs))
			if !tt.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Even in demo mode a runner gets only its own subjects.
			if err := nc.Publish(transport.Heartbeat("runner-2"), nil); err != nil {
				t.Fatal(err)
			}
			natsdtest.ExpectViolation(t, errs, "Publish", transport.Heartbeat("runner-2"))
		})
	}
}

func TestNKeyIdentity(t *testing.T) {
	p := natsdtest.NewPKI(t)
	seedFile, pub := newNKey(t)
	strangerSeed, _ := newNKey(t)
	o := p.ServerOptions(t)
	o.CAFile = "" // server TLS only: runners prove their name with an nkey
	o.RunnerNKeys = map[string]string{"runner-1": pub}
	s := natsdtest.Start(t, o)

	tests := []struct {
		name string
		seed string
		ok   bool
	}{
		{"own nkey", seedFile, true},
		{"unknown nkey", strangerSeed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nk, err := nats.NkeyOptionFromSeed(tt.seed)
			if err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, 10)
			nc, err := dial(t, s.ClientURL(), nk, nats.Secure(tlsConfig(t, p.CAFile, "", "")), asyncErrors(errs))
			if !tt.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sub, err := nc.SubscribeSync(transport.CfgPush("runner-1"))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			if err := nc.Publish(transport.Heartbeat("runner-2"), nil); err != nil {
				t.Fatal(err)
			}
			natsdtest.ExpectViolation(t, errs, "Publish", transport.Heartbeat("runner-2"))
		})
	}
	t.Run("no identity at all", func(t *testing.T) {
		if _, err := dial(t, s.ClientURL(), nats.Secure(tlsConfig(t, p.CAFile, "", ""))); err == nil {
			t.Fatal("accepted")
		}
	})
}

func TestStartRefusesBadOptions(t *testing.T) {
	p := natsdtest.NewPKI(t)
	_, pub := newNKey(t)
	tests := []struct {
		name string
		edit func(*natsd.Options)
	}{
		{"no store", func(o *natsd.Options) { o.StoreDir = "" }},
		{"store is a file", func(o *natsd.Options) { o.StoreDir = p.CAFile }},
		{"bad listen", func(o *natsd.Options) { o.Listen = "nope" }},
		{"bad port", func(o *natsd.Options) { o.Listen = "127.0.0.1:x" }},
		{"cert without key", func(o *natsd.Options) { o.KeyFile = "" }},
		{"ca without cert", func(o *natsd.Options) { o.CertFile, o.KeyFile = "", "" }},
		{"missing cert file", func(o *natsd.Options) { o.CertFile = filepath.Join(t.TempDir(), "none.crt") }},
		{"nkey for bad name", func(o *natsd.Options) { o.RunnerNKeys = map[string]string{"a.b": pub} }},
		{"nkey for controller", func(o *natsd.Options) { o.RunnerNKeys = map[string]string{transport.ControllerUser: pub} }},
		{"not an nkey", func(o *natsd.Options) { o.RunnerNKeys = map[string]string{"runner-1": "xyz"} }},
		{"shared nkey", func(o *natsd.Options) { o.RunnerNKeys = map[string]string{"runner-1": pub, "runner-2": pub} }},
		{"nkeys without tls", func(o *natsd.Options) {
			o.CertFile, o.KeyFile, o.CAFile = "", "", ""
			o.RunnerNKeys = map[string]string{"runner-1": pub}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := p.ServerOptions(t)
			tt.edit(&o)
			s, err := natsd.Start(context.Background(), o)
			if err == nil {
				s.Shutdown()
				t.Fatal("started")
			}
		})
	}
}

func TestShutdownOnContextDone(t *testing.T) {
	p := natsdtest.NewPKI(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := natsd.Start(ctx, p.ServerOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for s.NATS().Running() {
		if time.Now().After(deadline) {
			t.Fatal("server still running after ctx was cancelled")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, no event to await
	}
}

func newNKey(t *testing.T) (seedFile, public string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	public, _ = kp.PublicKey()
	seedFile = filepath.Join(t.TempDir(), "runner.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return seedFile, public
}

func asyncErrors(ch chan<- error) nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case ch <- err:
		default:
		}
	})
}

// TestSharedNKey: Postee's controller-seed-file is one nkey every runner
// signs with. It names nobody, so here it is a second factor: a runner
// must sign with it (or with its own listed nkey) and its certificate
// still says which runner it is.
func TestSharedNKey(t *testing.T) {
	p := natsdtest.NewPKI(t)
	shared, sharedPub := newNKey(t)
	own, ownPub := newNKey(t)
	stranger, _ := newNKey(t)
	o := p.ServerOptions(t)
	o.SharedNKey = sharedPub
	o.RunnerNKeys = map[string]string{"runner-2": ownPub}
	s := natsdtest.Start(t, o)
	// With a client CA (which the shared key needs) the TLS handshake asks
	// every runner for a certificate.
	certs := map[string][2]string{}
	for _, r := range []string{"runner-1", "runner-2"} {
		c, k := p.Issue(t, pki.Client, r)
		certs[r] = [2]string{c, k}
	}
	tests := []struct {
		name      string
		seed      string
		cert      string // runner whose certificate it presents; "" none
		ok        bool
		runnerSub string // a subject only that runner may subscribe to
	}{
		{"shared nkey and certificate", shared, "runner-1", true, transport.CfgPush("runner-1")},
		{"shared nkey alone names no runner", shared, "", false, ""},
		{"certificate alone", "", "runner-1", false, ""},
		{"own listed nkey and certificate", own, "runner-2", true, transport.CfgPush("runner-2")},
		{"own nkey with another runner's certificate", own, "runner-1", false, ""},
		{"unknown nkey and certificate", stranger, "runner-1", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, k := "", ""
			if tt.cert != "" {
				c, k = certs[tt.cert][0], certs[tt.cert][1]
			}
			opts := []nats.Option{nats.Secure(tlsConfig(t, p.CAFile, c, k))}
			if tt.seed != "" {
				nk, err := nats.NkeyOptionFromSeed(tt.seed)
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, nk)
			}
			errs := make(chan error, 10)
			nc, err := dial(t, s.ClientURL(), append(opts, asyncErrors(errs))...)
			if !tt.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sub, err := nc.SubscribeSync(tt.runnerSub)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			if err := nc.Publish(transport.Heartbeat("runner-3"), nil); err != nil {
				t.Fatal(err)
			}
			natsdtest.ExpectViolation(t, errs, "Publish", transport.Heartbeat("runner-3"))
		})
	}

	bad := []struct {
		name string
		edit func(*natsd.Options)
	}{
		{"shared key without client ca", func(o *natsd.Options) { o.CAFile = "" }},
		{"shared key is a runner's own", func(o *natsd.Options) { o.RunnerNKeys = map[string]string{"runner-2": sharedPub} }},
		{"not a user key", func(o *natsd.Options) { o.SharedNKey = "xyz" }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			o := p.ServerOptions(t)
			o.SharedNKey = sharedPub
			tt.edit(&o)
			if _, err := natsd.Start(context.Background(), o); err == nil {
				t.Fatal("started")
			}
		})
	}
}
