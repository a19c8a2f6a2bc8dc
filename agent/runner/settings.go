package runner

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/BurntSushi/toml"

	"github.com/postee-fleet/posteed/agent/intake/webhook"
	"github.com/postee-fleet/posteed/agent/sd"
	"github.com/postee-fleet/posteed/agent/settings"
)

// Settings are the runner's daemon settings: flags, or the same keys in
// /etc/postee/runner.toml (flags win). Tracee files are listed in the file's
// [discovery] table.
type Settings struct {
	ConfigFile    string
	Name          string
	ControllerURL string
	TLSCert       string // runner client certificate (CN = Name)
	TLSKey        string
	CARoot        string // CA of the controller's certificate
	NKeySeed      string
	URL           string // HTTP intake
	TLS           string // HTTPS intake
	HTTPSCert     string
	HTTPSKey      string
	BodyLimit     int64
	StateDir      string
	RuntimeDir    string
	LogLevel      string
	Admin         string   // admin listener host:port ("" disables)
	TraceeFiles   []string // from [discovery] tracee-files
	StartAtBegin  bool
	// MaxConcurrentActions bounds the actions running at once, local and
	// dispatched alike (0: engine.DefaultLimit()).
	MaxConcurrentActions int

	// MaxInflightBytes bounds the bytes of webhook events taken in at once.
	MaxInflightBytes int64
	// IntakeTokenFile holds the bearer token the intake requires, and
	// IntakeClientCA the CA whose client certificates the HTTPS intake
	// requires; both optional (relative: $CREDENTIALS_DIRECTORY).
	IntakeTokenFile string
	IntakeClientCA  string
}

// The intake listens on loopback unless runner.toml opens it: Tracee and
// the other producers run on the same host.
const (
	DefaultURL = "127.0.0.1:9082"
	DefaultTLS = "127.0.0.1:9445"
)

// Flags registers the settings on fs.
func Flags(fs *flag.FlagSet) *Settings {
	s := &Settings{}
	fs.StringVar(&s.ConfigFile, "config", "/etc/postee/runner.toml", "daemon settings file (TOML; keys are these flag names; flags win)")
	fs.StringVar(&s.Name, "runner-name", "", "this runner's name, as runs-on names it (and its certificate's CN)")
	fs.StringVar(&s.ControllerURL, "controller-url", "", "the controller's NATS address, e.g. tls://controller.example:4222; on a cluster, several, comma-separated (TOML: a list)")
	fs.StringVar(&s.TLSCert, "runner-tls-cert", "", "runner client certificate (relative paths: $CREDENTIALS_DIRECTORY)")
	fs.StringVar(&s.TLSKey, "runner-tls-key", "", "runner client private key")
	fs.StringVar(&s.CARoot, "runner-ca-root", "", "CA that signed the controller's certificate")
	fs.StringVar(&s.NKeySeed, "runner-seed-file", "", "nkey seed file (Postee's flag): this runner's own nkey, listed in the controller's runner-nkeys, is an identity instead of the certificate; Postee's shared seed (the controller's controller-seed-file) goes with the certificate")
	fs.StringVar(&s.NKeySeed, "runner-nkey-seed", "", "the same as runner-seed-file (earlier name)")
	fs.StringVar(&s.URL, "url", DefaultURL, "HTTP intake address host:port (\"\" disables); loopback unless opened on purpose")
	fs.StringVar(&s.TLS, "tls", DefaultTLS, "HTTPS intake address host:port (\"\" disables); loopback unless opened on purpose")
	fs.StringVar(&s.HTTPSCert, "tls-cert", "", "HTTPS intake certificate (default: self-signed, generated once into the state directory)")
	fs.StringVar(&s.HTTPSKey, "tls-key", "", "HTTPS intake private key")
	fs.Int64Var(&s.BodyLimit, "body-limit", 10<<20, "largest event accepted, in bytes")
	fs.Int64Var(&s.MaxInflightBytes, "max-inflight-bytes", webhook.DefaultMaxInflight, "bytes of webhook events read and taken in at once; beyond, posts get 503 with Retry-After")
	fs.StringVar(&s.IntakeTokenFile, "intake-token-file", "", "file holding the bearer token every webhook event must carry (relative: $CREDENTIALS_DIRECTORY; \"\": none)")
	fs.StringVar(&s.IntakeClientCA, "intake-client-ca", "", "CA certificate(s): the HTTPS intake takes only clients with a certificate they signed (\"\": none)")
	fs.StringVar(&s.StateDir, "state-dir", envOr("STATE_DIRECTORY", "/var/lib/postee-runner"), "state directory: cached config, spool, offsets")
	fs.StringVar(&s.RuntimeDir, "runtime-dir", envOr("RUNTIME_DIRECTORY", "/run/postee-runner"), "runtime directory: runner.json announcement")
	fs.StringVar(&s.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&s.Admin, "admin", "127.0.0.1:9083", "admin listener host:port: /metrics, /healthz, /readyz (\"\" disables)")
	fs.BoolVar(&s.StartAtBegin, "tracee-from-start", false, "read Tracee files that already exist from their beginning instead of their end")
	fs.IntVar(&s.MaxConcurrentActions, "max-concurrent-actions", 0, "actions running at once at most, local and dispatched (0: 4 per CPU, at least 4)")
	return s
}

func envOr(env, fallback string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return fallback
}

// Env are Postee's environment variables the runner reads: a flag wins
// over them, they win over runner.toml; of two for one setting the first
// set wins (POSTEE_* over the older AQUAALERT_*). POSTEE_CFG does not
// apply: a runner's config comes from the controller.
var Env = []settings.EnvVar{
	{Name: "POSTEE_HTTP", Flag: "url"},
	{Name: "AQUAALERT_URL", Flag: "url"},
	{Name: "POSTEE_HTTPS", Flag: "tls"},
	{Name: "AQUAALERT_TLS", Flag: "tls"},
	{Name: "AQUAALERT_CERT_PEM", Flag: "tls-cert"},
	{Name: "AQUAALERT_KEY_PEM", Flag: "tls-key"},
	{Name: "POSTEE_DEBUG", Flag: "log-level", Value: settings.Debug},
	{Name: "AQUAALERT_DEBUG", Flag: "log-level", Value: settings.Debug},
	{Name: "PATH_TO_DB", Flag: "state-dir", Value: settings.DirOf},
}

// Validate checks what a runner cannot start without.
func (s *Settings) Validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("runner-name is not set (flag --runner-name or runner-name in runner.toml)"))
	}
	if s.ControllerURL == "" {
		errs = append(errs, errors.New("controller-url is not set (flag --controller-url or controller-url in runner.toml)"))
	}
	return errors.Join(errs...)
}

// Discovery is the [discovery] table of runner.toml.
type Discovery struct {
	TraceeFiles []string `toml:"tracee-files"`
}

// LoadDiscovery reads the [discovery] table of file (missing file: none).
func LoadDiscovery(file string) (Discovery, error) {
	var doc struct {
		Discovery Discovery `toml:"discovery"`
	}
	md, err := toml.DecodeFile(file, &doc)
	if errors.Is(err, os.ErrNotExist) {
		return Discovery{}, nil
	}
	if err != nil {
		return Discovery{}, fmt.Errorf("%s: %w", file, err)
	}
	for _, k := range md.Undecoded() {
		if len(k) > 1 && k[0] == "discovery" {
			return Discovery{}, fmt.Errorf("%s: %s: unknown setting (the [discovery] table takes tracee-files)", file, k.String())
		}
	}
	return doc.Discovery, nil
}

// ResolveCredentials turns relative TLS file names into paths under
// $CREDENTIALS_DIRECTORY (systemd LoadCredential=); a blank credential means
// "not configured".
func (s *Settings) ResolveCredentials() error {
	return sd.ResolveCredentials(&s.TLSCert, &s.TLSKey, &s.CARoot, &s.NKeySeed, &s.HTTPSCert, &s.HTTPSKey, &s.IntakeTokenFile, &s.IntakeClientCA)
}
