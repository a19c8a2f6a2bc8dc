package controller

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/postee-fleet/posteed/agent/intake/webhook"
	"github.com/postee-fleet/posteed/agent/settings"

	"github.com/postee-fleet/posteed/agent/sd"
	"github.com/postee-fleet/posteed/controller/natsd"
)

// Settings are the controller's daemon settings: flags, or the same keys in
// /etc/postee/controller.toml (flags win).
type Settings struct {
	ConfigFile string // controller.toml
	CfgFile    string // Postee routes/templates/actions
	// RegoFilters is Postee's rego-filters folder: where a relative
	// input-file not beside cfg.yaml is looked for ("": beside cfg.yaml).
	RegoFilters string
	URL         string // HTTP intake host:port
	TLS         string // HTTPS intake host:port ("" disables)
	TLSCert     string
	TLSKey      string
	BodyLimit   int64
	StateDir    string
	LogLevel    string
	Admin       string // admin listener host:port: /metrics, /healthz, /readyz, /runners, status page ("" disables)
	Pprof       bool   // /debug/pprof on the admin listener (profiling; off by default)
	// WatchConfig reloads cfg.yaml whenever it is saved; otherwise only
	// SIGHUP (systemctl reload) does.
	WatchConfig bool

	ControllerMode    bool
	ControllerURL     string // embedded NATS listen address, nats://HOST:PORT
	ControllerTLSCert string
	ControllerTLSKey  string
	ControllerCARoot  string
	// ControllerSeedFile is Postee's --controller-seed-file: its public key
	// is the nkey every runner must sign with (runner-seed-file), on top of
	// its certificate, which still names it (see README, Postee
	// compatibility).
	ControllerSeedFile string
	// RunnerNKeys maps runner name to its own public user nkey: a runner
	// signing with it needs no certificate.
	RunnerNKeys    settings.Map
	InsecureNoAuth bool
	// JetStream limits (see natsd.Limits), sized for the state disk.
	WorkMaxBytes           int64
	RunnerQueueMaxMessages int64
	UpMaxBytes             int64
	EventsMaxBytes         int64
	// MaxConcurrentActions bounds the controller's actions running at once.
	MaxConcurrentActions int
	MaxInflightBytes     int64 // bytes of webhook events taken in at once

	// External mode: an existing NATS cluster instead of the embedded
	// server (see README, Scaling out).
	NATSServers    string // comma-separated URLs; set: external mode
	NATSTLSCert    string // this controller's client certificate
	NATSTLSKey     string
	NATSCARoot     string // the CA of the servers' certificates
	NATSReplicas   int    // of every stream and bucket (0: 3 with several servers, else 1)
	NATSIssuerSeed string // account nkey seed signing runner users (auth callout)
	NATSUserSeed   string // the controllers' own user nkey seed
	// OriginHosts maps host names to the runner entitled to act for them
	// (@origin), besides the names in runners' certificates.
	OriginHosts settings.Map
}

// Flags registers the settings on fs.
func Flags(fs *flag.FlagSet) *Settings {
	s := &Settings{}
	fs.StringVar(&s.ConfigFile, "config", "/etc/postee/controller.toml", "daemon settings file (TOML; keys are these flag names; flags win)")
	fs.StringVar(&s.CfgFile, "cfgfile", "/etc/postee/cfg.yaml", "Postee config: routes, templates, actions")
	fs.StringVar(&s.RegoFilters, "rego-filters", "", "Postee's rego-filters folder: relative input-files not beside cfg.yaml are read from it (default: rego-filters beside cfg.yaml)")
	fs.StringVar(&s.URL, "url", "0.0.0.0:8082", "HTTP intake address host:port (\"\" disables)")
	fs.StringVar(&s.TLS, "tls", "0.0.0.0:8445", "HTTPS intake address host:port (\"\" disables)")
	fs.StringVar(&s.TLSCert, "tls-cert", "", "HTTPS certificate (default: self-signed, generated once into the state directory)")
	fs.StringVar(&s.TLSKey, "tls-key", "", "HTTPS private key")
	fs.Int64Var(&s.BodyLimit, "body-limit", 10<<20, "largest event accepted, in bytes")
	fs.StringVar(&s.StateDir, "state-dir", defaultDir("STATE_DIRECTORY", "/var/lib/posteed-controller"), "state directory (JetStream store, revision, self-signed certificate)")
	fs.StringVar(&s.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&s.WatchConfig, "watch-config", false, "reload cfg.yaml whenever it is saved (default: only on SIGHUP, systemctl reload)")
	fs.StringVar(&s.Admin, "admin", "127.0.0.1:8083", "admin listener host:port: /metrics, /healthz, /readyz, /runners and the status page (\"\" disables)")
	fs.BoolVar(&s.Pprof, "pprof", false, "serve Go's /debug/pprof profiles on the admin listener")
	fs.BoolVar(&s.ControllerMode, "controller-mode", false, "run the embedded NATS server for runners (Postee's flag; implied by --controller-url)")
	fs.StringVar(&s.ControllerURL, "controller-url", "", "address the embedded NATS server listens on, nats://HOST:PORT (default nats://0.0.0.0:4222 in controller mode)")
	fs.StringVar(&s.ControllerTLSCert, "controller-tls-cert", "", "NATS server certificate (relative paths: $CREDENTIALS_DIRECTORY)")
	fs.StringVar(&s.ControllerTLSKey, "controller-tls-key", "", "NATS server private key")
	fs.StringVar(&s.ControllerCARoot, "controller-ca-root", "", "CA that signs runner client certificates; their CN is the runner name")
	fs.StringVar(&s.ControllerSeedFile, "controller-seed-file", "", "Postee's nkey seed file: runners must also sign with this nkey (their certificate still names them)")
	fs.Var(&s.RunnerNKeys, "runner-nkeys", "runner public nkeys, name=UKEY,... (TOML: runner-nkeys = { \"postee-runner-1\" = \"U...\" }): a runner signing with its own nkey needs no certificate")
	fs.BoolVar(&s.InsecureNoAuth, "insecure-no-auth", false, "let runners connect without certificates, naming themselves (local demos only)")
	fs.Int64Var(&s.WorkMaxBytes, "work-max-bytes", 0, "bytes of work queued for all runners; beyond, dispatch is refused (503) (0: 1 GiB, or an eighth of the state directory's disk when that is less)")
	fs.Int64Var(&s.RunnerQueueMaxMessages, "runner-queue-max-messages", natsd.DefaultRunnerMaxMessages, "jobs queued for one runner; beyond, dispatch to it is refused (503)")
	fs.Int64Var(&s.UpMaxBytes, "upstream-max-bytes", 0, "bytes of runner events waiting for the controller; beyond, runners keep them in their spools (0: as work-max-bytes)")
	fs.Int64Var(&s.EventsMaxBytes, "events-max-bytes", 0, "bytes of events taken over HTTP waiting for a controller; beyond, posts get 503 (0: as work-max-bytes)")
	fs.IntVar(&s.MaxConcurrentActions, "max-concurrent-actions", DefaultMaxConcurrentActions, "controller actions running at once at most")
	fs.Int64Var(&s.MaxInflightBytes, "max-inflight-bytes", webhook.DefaultMaxInflight, "bytes of webhook events read and taken in at once; beyond, posts get 503 with Retry-After")
	fs.StringVar(&s.NATSServers, "nats-servers", "", "an existing NATS cluster, tls://HOST:PORT,... (TOML: a list): no embedded server; several controllers may share it")
	fs.StringVar(&s.NATSTLSCert, "nats-tls-cert", "", "this controller's client certificate for the NATS servers (relative paths: $CREDENTIALS_DIRECTORY; default: controller-tls-cert)")
	fs.StringVar(&s.NATSTLSKey, "nats-tls-key", "", "its private key (default: controller-tls-key)")
	fs.StringVar(&s.NATSCARoot, "nats-ca-root", "", "the CA that signed the NATS servers' certificates (default: controller-ca-root)")
	fs.IntVar(&s.NATSReplicas, "nats-replicas", 0, "replicas of every stream and bucket (0: 3 when several servers are listed, else 1)")
	fs.StringVar(&s.NATSIssuerSeed, "nats-issuer-seed", "nats-issuer.nk", "account nkey seed the controllers sign runner users with (auth callout); made by nats-config")
	fs.StringVar(&s.NATSUserSeed, "nats-user-seed", "nats-user.nk", "the controllers' own user nkey seed; made by nats-config")
	fs.Var(&s.OriginHosts, "origin-hosts", "host=runner,... (TOML: origin-hosts = { \"node-1\" = \"postee-runner-1\" }): runners entitled to @origin work for hosts their certificates do not name")
	return s
}

// External reports whether the controller joins an existing NATS cluster.
func (s *Settings) External() bool { return strings.TrimSpace(s.NATSServers) != "" }

// Servers lists the external NATS servers.
func (s *Settings) Servers() []string {
	var out []string
	for _, u := range strings.Split(s.NATSServers, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// natsTLS are the files the controller joins a cluster with: the nats-tls
// settings, each defaulting to its controller-tls counterpart (one
// certificate from posteed-controller certs serves both).
func (s *Settings) natsTLS() (cert, key, ca string) {
	or := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	return or(s.NATSTLSCert, s.ControllerTLSCert), or(s.NATSTLSKey, s.ControllerTLSKey), or(s.NATSCARoot, s.ControllerCARoot)
}

// Replicas is the replica count of streams and buckets.
func (s *Settings) Replicas() int {
	switch {
	case s.NATSReplicas > 0:
		return s.NATSReplicas
	case len(s.Servers()) > 1:
		return 3
	}
	return 1
}

// DefaultMaxConcurrentActions bounds the controller's actions, mostly
// HTTP requests waiting on their peers: many more than a runner's scripts.
const DefaultMaxConcurrentActions = 64

func (s *Settings) limits() natsd.Limits {
	return natsd.Limits{WorkMaxBytes: s.WorkMaxBytes, RunnerMaxMessages: s.RunnerQueueMaxMessages, UpMaxBytes: s.UpMaxBytes,
		EventsMaxBytes: s.EventsMaxBytes, Replicas: s.Replicas()}
}

// streamLimits are the limits the streams are made with: with the embedded
// server, those left unset fit the state directory's disk.
func (s *Settings) streamLimits() natsd.Limits {
	if s.External() {
		return s.limits()
	}
	return s.limits().SizedFor(filepath.Join(s.StateDir, "jetstream"))
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
	return sd.ResolveCredentials(&s.TLSCert, &s.TLSKey, &s.ControllerTLSCert, &s.ControllerTLSKey, &s.ControllerCARoot, &s.ControllerSeedFile,
		&s.NATSTLSCert, &s.NATSTLSKey, &s.NATSCARoot)
}

// Env are Postee's environment variables the controller reads: a flag
// wins over them, they win over controller.toml. Of two variables for one
// setting, the first set wins (Postee's POSTEE_* over its older
// AQUAALERT_*).
var Env = []settings.EnvVar{
	{Name: "POSTEE_CFG", Flag: "cfgfile"},
	{Name: "AQUAALERT_CFG", Flag: "cfgfile"},
	{Name: "POSTEE_HTTP", Flag: "url"},
	{Name: "AQUAALERT_URL", Flag: "url"},
	{Name: "POSTEE_HTTPS", Flag: "tls"},
	{Name: "AQUAALERT_TLS", Flag: "tls"},
	{Name: "AQUAALERT_CERT_PEM", Flag: "tls-cert"},
	{Name: "AQUAALERT_KEY_PEM", Flag: "tls-key"},
	{Name: "POSTEE_DEBUG", Flag: "log-level", Value: settings.Debug},
	{Name: "AQUAALERT_DEBUG", Flag: "log-level", Value: settings.Debug},
	{Name: "PATH_TO_DB", Flag: "state-dir", Value: settings.DirOf},
	{Name: "REGO_FILTERS_PATH", Flag: "rego-filters"},
}

// sharedNKey is the public key of controller-seed-file ("" when unset).
func (s *Settings) sharedNKey() (string, error) {
	if s.ControllerSeedFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(s.ControllerSeedFile)
	if err != nil {
		return "", fmt.Errorf("controller-seed-file: %w", err)
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return "", fmt.Errorf("controller-seed-file %s: %w", s.ControllerSeedFile, err)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return "", fmt.Errorf("controller-seed-file %s: %w", s.ControllerSeedFile, err)
	}
	return pub, nil
}

// natsSeed is the path of an nkey seed file named in controller.toml: an
// absolute path as it is; a relative name resolves like the TLS files,
// under $CREDENTIALS_DIRECTORY (systemd LoadCredential=), or, outside a
// unit, in the tls directory beside controller.toml (/etc/postee/tls),
// where nats-config creates it.
func (s *Settings) natsSeed(name string) (string, error) {
	if name == "" {
		return "", errors.New("not set")
	}
	if filepath.IsAbs(name) {
		return name, nil
	}
	if os.Getenv("CREDENTIALS_DIRECTORY") != "" {
		path, ok, err := sd.Credential(name)
		if err == nil && !ok {
			err = fmt.Errorf("credential %q is empty", name)
		}
		return path, err
	}
	return filepath.Join(filepath.Dir(s.ConfigFile), "tls", name), nil
}
