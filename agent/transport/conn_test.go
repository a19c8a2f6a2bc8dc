package transport_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/postee-fleet/posteed/agent/pki"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
)

// freeLoopbackAddr returns an address nothing listens on right now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestConnectBeforeServerStarts(t *testing.T) {
	p := natsdtest.NewPKI(t)
	addr := freeLoopbackAddr(t)
	o := p.Runner(t, "runner-1", "tls://"+addr)
	connected := make(chan struct{})
	nc, err := transport.Connect(context.Background(), o,
		nats.ConnectHandler(func(*nats.Conn) { close(connected) }))
	if err != nil {
		t.Fatalf("Connect while the controller is down: %v", err)
	}
	defer nc.Close()
	if nc.IsConnected() {
		t.Fatal("connected with no server")
	}
	// Buffered while disconnected, delivered once connected.
	if err := nc.Publish(transport.Heartbeat("runner-1"), []byte("early")); err != nil {
		t.Fatal(err)
	}

	so := p.ServerOptions(t)
	so.Listen = addr
	natsdtest.Start(t, so)
	select {
	case <-connected:
	case <-time.After(15 * time.Second):
		t.Fatal("runner did not connect once the server was up")
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestConnectUsesOwnInbox(t *testing.T) {
	f := natsdtest.New(t)
	nc := f.Runner(t, "runner-1")
	if inbox := nc.NewInbox(); !strings.HasPrefix(inbox, "_INBOX.runner-1.") {
		t.Fatalf("inbox %q outside the runner's prefix", inbox)
	}
	if nc.Opts.Name != "runner-1" {
		t.Fatalf("connection name %q", nc.Opts.Name)
	}
}

// The runner refuses a controller whose certificate its CA did not sign.
func TestConnectVerifiesController(t *testing.T) {
	f := natsdtest.New(t)
	impostor := natsdtest.NewPKI(t)
	o := f.PKI.Runner(t, "runner-1", f.Server.ClientURL())
	o.CAFile = impostor.CAFile
	failed := make(chan error, 1)
	nc, err := transport.Connect(context.Background(), o,
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			select {
			case failed <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	select {
	case err := <-failed:
		if !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("failed for another reason: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connection error reported")
	}
	if nc.IsConnected() {
		t.Fatal("connected to a controller signed by another CA")
	}
}

func TestConnectRefusesBadOptions(t *testing.T) {
	p := natsdtest.NewPKI(t)
	good := p.Runner(t, "runner-1", "tls://127.0.0.1:1")
	notPEM := filepath.Join(t.TempDir(), "junk.crt")
	if err := os.WriteFile(notPEM, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*transport.ConnOptions)
	}{
		{"invalid name", func(o *transport.ConnOptions) { o.Name = "a.b" }},
		{"controller name", func(o *transport.ConnOptions) { o.Name = transport.ControllerUser }},
		{"no url", func(o *transport.ConnOptions) { o.URL = "" }},
		{"no ca", func(o *transport.ConnOptions) { o.CAFile = "" }},
		{"missing ca", func(o *transport.ConnOptions) { o.CAFile = filepath.Join(t.TempDir(), "none") }},
		{"ca without certificate", func(o *transport.ConnOptions) { o.CAFile = notPEM }},
		{"cert without key", func(o *transport.ConnOptions) { o.KeyFile = "" }},
		{"key of another cert", func(o *transport.ConnOptions) { _, o.KeyFile = p.Issue(t, pki.Client, "runner-9") }},
		{"missing nkey seed", func(o *transport.ConnOptions) { o.NKeySeedFile = filepath.Join(t.TempDir(), "none.nk") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			nc, err := transport.Connect(context.Background(), o)
			if err == nil {
				nc.Close()
				t.Fatal("Connect accepted the options")
			}
		})
	}
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := transport.Connect(ctx, good); err == nil {
			t.Fatal("Connect with a cancelled context")
		}
	})
}

func TestResolveCredential(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "runner.crt")
	tests := []struct {
		name, credDir, path, want string
	}{
		{"relative with credentials dir", "/run/credentials/postee-runner.service", "runner.crt", "/run/credentials/postee-runner.service/runner.crt"},
		{"relative without credentials dir", "", "runner.crt", "runner.crt"},
		{"absolute stays", "/run/credentials/x", abs, abs},
		{"empty stays empty", "/run/credentials/x", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CREDENTIALS_DIRECTORY", tt.credDir)
			if got := transport.ResolveCredential(tt.path); got != tt.want {
				t.Fatalf("ResolveCredential(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestCredentialsDirectory(t *testing.T) {
	f := natsdtest.New(t)
	o := f.PKI.Runner(t, "runner-1", f.Server.ClientURL())
	t.Setenv("CREDENTIALS_DIRECTORY", f.PKI.Dir)
	o.CertFile, o.KeyFile, o.CAFile = filepath.Base(o.CertFile), filepath.Base(o.KeyFile), filepath.Base(o.CAFile)
	nc, err := transport.Connect(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Flush(); err != nil {
		t.Fatalf("not connected with credentials from $CREDENTIALS_DIRECTORY: %v", err)
	}
}

func TestReplyAllowed(t *testing.T) {
	tests := []struct {
		reply string
		ok    bool
	}{
		{"_R_.abc.1", true},
		{"_R_.", false},
		{"_INBOX.runner-1.abc.1", false}, // not through the runners' import
		{"posteed.cfg.get.runner-2", false},
		{"_R_.>", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := transport.ReplyAllowed(tt.reply); got != tt.ok {
			t.Errorf("ReplyAllowed(%q) = %v, want %v", tt.reply, got, tt.ok)
		}
	}
}

func TestPermissionLists(t *testing.T) {
	// Every subject of another runner must fall outside runner-1's lists.
	for _, allow := range [][]string{transport.PublishAllow("runner-1"), transport.SubscribeAllow("runner-1")} {
		for _, s := range allow {
			if strings.Contains(s, "runner-2") || !strings.Contains(s, "runner-1") {
				t.Errorf("permission %q is not runner-1's own", s)
			}
			if strings.HasPrefix(s, "_INBOX.>") || s == ">" {
				t.Errorf("permission %q is shared", s)
			}
		}
	}
}

// TestDecodeChecksTheSender: a runner's message is read strictly and must
// name the subject's runner as its sender; a JetStream API response, a
// message of another runner and anything malformed are refused.
func TestDecodeChecksTheSender(t *testing.T) {
	tests := []struct {
		name, data string
		ok         bool
	}{
		{"its own", `{"runner":"runner-1","host":"h"}`, true},
		{"another's", `{"runner":"runner-2","host":"h"}`, false},
		{"no sender", `{"host":"h"}`, false},
		{"an API response", `{"type":"io.nats.jetstream.api.v1.consumer_info_response","error":{"code":404}}`, false},
		{"an empty status message", ``, false},
		{"trailing data", `{"runner":"runner-1"} {}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st transport.Status
			runner, err := transport.Decode(transport.Heartbeat("runner-1"), []byte(tt.data), &st, func() string { return st.Runner })
			if runner != "runner-1" || (err == nil) != tt.ok {
				t.Fatalf("Decode = %q, %v; want ok %v", runner, err, tt.ok)
			}
		})
	}
}
