package controller

import (
	"flag"
	"os"

	"github.com/postee-fleet/posteed/agent/intake/webhook"
	"github.com/postee-fleet/posteed/agent/sd"
	"github.com/postee-fleet/posteed/controller/natsd"
)

// Settings are the controller's daemon settings: flags, or the same keys in
// /etc/postee/controller.toml (flags win).
type Settings struct {
	ConfigFile string // controller.toml
	CfgFile    string // Postee routes/templates/actions
	URL        string // HTTP intake host:port
	TLS        string // HTTPS intake host:port ("" disables)
	TLSCert    string
	TLSKey     string
	BodyLimit  int64
	StateDir   string
	LogLevel   string
	Admin      string // admin listener host:port: /metrics, /healthz, /readyz, /runners, status page ("" disables)

	ControllerMode    bool
	ControllerURL     string // embedded NATS listen address, nats://HOST:PORT
	ControllerTLSCert string
	ControllerTLSKey  string
	ControllerCARoot  string
	InsecureNoAuth    bool
	// JetStream limits (see natsd.Limits), sized for the state disk.
	WorkMaxBytes           int64
	RunnerQueueMaxMessages int64
	UpMaxBytes             int64

	MaxInflightBytes int64 // bytes of webhook events taken in at once
}

// Flags registers the settings on fs.
func Flags(fs *flag.FlagSet) *Settings {
	s := &Settings{}
	fs.StringVar(&s.ConfigFile, "config", "/etc/postee/controller.toml", "daemon settings file (TOML; keys are these flag names; flags win)")
	fs.StringVar(&s.CfgFile, "cfgfile", "/etc/postee/cfg.yaml", "Postee config: routes, templates, actions")
	fs.StringVar(&s.URL, "url", "0.0.0.0:8082", "HTTP intake address host:port (\"\" disables)")
	fs.StringVar(&s.TLS, "tls", "0.0.0.0:8445", "HTTPS intake address host:port (\"\" disables)")
	fs.StringVar(&s.TLSCert, "tls-cert", "", "HTTPS certificate (default: self-signed, generated once into the state directory)")
	fs.StringVar(&s.TLSKey, "tls-key", "", "HTTPS private key")
	fs.Int64Var(&s.BodyLimit, "body-limit", 10<<20, "largest event accepted, in bytes")
	fs.StringVar(&s.StateDir, "state-dir", defaultDir("STATE_DIRECTORY", "/var/lib/posteed-controller"), "state directory (JetStream store, revision, self-signed certificate)")
	fs.StringVar(&s.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&s.Admin, "admin", "127.0.0.1:8083", "admin listener host:port: /metrics, /healthz, /readyz, /runners and the status page (\"\" disables)")
	fs.BoolVar(&s.ControllerMode, "controller-mode", false, "run the embedded NATS server for runners (Postee's flag; implied by --controller-url)")
	fs.StringVar(&s.ControllerURL, "controller-url", "", "address the embedded NATS server listens on, nats://HOST:PORT (default nats://0.0.0.0:4222 in controller mode)")
	fs.StringVar(&s.ControllerTLSCert, "controller-tls-cert", "", "NATS server certificate (relative paths: $CREDENTIALS_DIRECTORY)")
	fs.StringVar(&s.ControllerTLSKey, "controller-tls-key", "", "NATS server private key")
	fs.StringVar(&s.ControllerCARoot, "controller-ca-root", "", "CA that signs runner client certificates; their CN is the runner name")
	fs.BoolVar(&s.InsecureNoAuth, "insecure-no-auth", false, "let runners connect without certificates, naming themselves (local demos only)")
	fs.Int64Var(&s.WorkMaxBytes, "work-max-bytes", natsd.DefaultWorkMaxBytes, "bytes of work queued for all runners; beyond, dispatch is refused (503)")
	fs.Int64Var(&s.RunnerQueueMaxMessages, "runner-queue-max-messages", natsd.DefaultRunnerMaxMessages, "jobs queued for one runner; beyond, dispatch to it is refused (503)")
	fs.Int64Var(&s.UpMaxBytes, "upstream-max-bytes", natsd.DefaultUpMaxBytes, "bytes of runner events waiting for the controller; beyond, runners keep them in their spools")
	fs.Int64Var(&s.MaxInflightBytes, "max-inflight-bytes", webhook.DefaultMaxInflight, "bytes of webhook events read and taken in at once; beyond, posts get 503 with Retry-After")
	return s
}

func (s *Settings) limits() natsd.Limits {
	return natsd.Limits{WorkMaxBytes: s.WorkMaxBytes, RunnerMaxMessages: s.RunnerQueueMaxMessages, UpMaxBytes: s.UpMaxBytes}
}

func defaultDir(env, fallback string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	return fallback
}

// ResolveCredentials turns relative TLS file names into paths under
// $CREDENTIALS_DIRECTORY (systemd LoadCredential=); a blank credential means
// "not configured".
func (s *Settings) ResolveCredentials() error {
	return sd.ResolveCredentials(&s.TLSCert, &s.TLSKey, &s.ControllerTLSCert, &s.ControllerTLSKey, &s.ControllerCARoot)
}
