package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/runner"
	"github.com/postee-fleet/posteed/agent/settings"
	"github.com/postee-fleet/posteed/agent/transport"
)

// check validates runner.toml as the daemon would load it, running nothing:
// every problem in one pass. Exit 0 valid, 1 invalid, 2 usage.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("postee-runner check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "/etc/postee/runner.toml", "runner.toml to check")
	format := fs.String("format", "text", "text, or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := config.CheckFormat(*format); err != nil {
		fmt.Fprintln(stderr, "postee-runner check:", err)
		return 2
	}
	if fs.NArg() == 1 {
		*file = fs.Arg(0)
	}
	errs := checkSettings(*file)
	if err := config.Report(stdout, *format, []string{*file}, errs, nil); err != nil {
		fmt.Fprintln(stderr, "postee-runner check:", err)
		return 1
	}
	if len(errs) > 0 {
		return 1
	}
	return 0
}

func checkSettings(file string) config.Errors {
	fs := flag.NewFlagSet("runner.toml", flag.ContinueOnError)
	s := runner.Flags(fs)
	var errs config.Errors
	if err := settings.Load(fs, file, false, "discovery"); err != nil {
		var es config.Errors
		if !errors.As(err, &es) {
			es = config.Errors{{File: file, Msg: err.Error()}}
		}
		for _, e := range es {
			if e.Key == "" { // unreadable or not TOML: no values to check
				return es
			}
		}
		errs = es
	}
	c := settings.NewChecker(file)
	if d, err := runner.LoadDiscovery(file); err != nil {
		c.Errs = append(c.Errs, &config.Error{File: file, Msg: strings.TrimPrefix(err.Error(), file+": ")})
	} else {
		for _, p := range d.TraceeFiles {
			if !filepath.IsAbs(p) {
				c.Add("tracee-files", "%q: give an absolute path", p)
			} else if _, err := filepath.Match(p, ""); err != nil {
				c.Add("tracee-files", "%q: %v", p, err)
			}
		}
	}
	if s.Name == "" {
		c.Add("runner-name", "not set: the runner's name, as runs-on names it")
	} else if err := transport.ValidName(s.Name); err != nil {
		c.Add("runner-name", "%v", err)
	}
	checkControllerURL(c, s.ControllerURL)
	c.Addr("url", s.URL)
	c.Addr("tls", s.TLS)
	c.Addr("admin", s.Admin)
	c.LogLevel("log-level", s.LogLevel)
	c.Positive("body-limit", s.BodyLimit)
	files := []struct{ key, value string }{{"runner-tls-cert", s.TLSCert}, {"runner-tls-key", s.TLSKey}, {"runner-ca-root", s.CARoot},
		{"runner-nkey-seed", s.NKeySeed}, {"tls-cert", s.HTTPSCert}, {"tls-key", s.HTTPSKey}}
	readable := map[string]bool{}
	for _, f := range files {
		n := len(c.Errs)
		c.Readable(f.key, f.value)
		readable[f.key] = f.value != "" && len(c.Errs) == n
	}
	pair(c, "runner-tls-cert", s.TLSCert, "runner-tls-key", s.TLSKey)
	pair(c, "tls-cert", s.HTTPSCert, "tls-key", s.HTTPSKey)
	if s.Name != "" && filepath.IsAbs(s.TLSCert) && readable["runner-tls-cert"] {
		if err := runner.CheckIdentity(s.Name, s.TLSCert); err != nil {
			c.Add("runner-tls-cert", "%v", err)
		}
	}
	return append(errs, c.Errs...)
}

func checkControllerURL(c *settings.Checker, u string) {
	if u == "" {
		c.Add("controller-url", `not set: the controller's NATS address, e.g. "tls://controller.example.org:4222"`)
		return
	}
	for _, one := range strings.Split(u, ",") { // nats.go takes a list of servers
		p, err := url.Parse(strings.TrimSpace(one))
		if err != nil || p.Host == "" || (p.Scheme != "tls" && p.Scheme != "nats") {
			c.Add("controller-url", "%q: want tls://HOST:PORT", one)
			continue
		}
		c.Addr("controller-url", p.Host)
	}
}

// pair: a certificate needs its key and the other way round.
func pair(c *settings.Checker, certKey, cert, keyKey, key string) {
	switch {
	case cert != "" && key == "":
		c.Add(certKey, "%s is set but %s is not: give both", certKey, keyKey)
	case cert == "" && key != "":
		c.Add(keyKey, "%s is set but %s is not: give both", keyKey, certKey)
	}
}
