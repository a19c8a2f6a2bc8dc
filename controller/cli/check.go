package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/settings"
	"github.com/postee-fleet/posteed/controller"
)

// stdinName names standard input (--cfgfile -) in messages.
const stdinName = "<stdin>"

// check validates cfg.yaml, and controller.toml with --config, running
// nothing: every problem in one pass. Exit 0 valid, 1 invalid, 2 usage.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("posteed-controller check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgfile := fs.String("cfgfile", defaultCfgFile(), "Postee config to check (- for standard input; default: the cfgfile of --config, else $POSTEE_CFG, else /etc/postee/cfg.yaml)")
	filters := fs.String("rego-filters", os.Getenv("REGO_FILTERS_PATH"), "Postee's rego-filters folder for relative input-files (default: $REGO_FILTERS_PATH, else rego-filters beside the config)")
	toml := fs.String("config", "", "also check this controller.toml, and by default the cfgfile it names")
	format := fs.String("format", "text", "text, or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := config.CheckFormat(*format); err != nil {
		fmt.Fprintln(stderr, "posteed-controller check:", err)
		return 2
	}
	if fs.NArg() == 1 {
		*cfgfile = fs.Arg(0)
	}
	var files []string
	var errs, warns config.Errors
	if *toml != "" {
		s, terrs := checkSettings(*toml)
		files, errs = append(files, *toml), terrs
		if !isSet(fs, "cfgfile") && fs.NArg() == 0 && s.CfgFile != "" {
			*cfgfile = s.CfgFile
		}
	}
	name, data, err := readConfig(*cfgfile)
	files = append(files, name)
	if err != nil {
		errs = append(errs, &config.Error{File: name, Msg: err.Error()})
	} else {
		cerrs, cwarns := controller.Check(context.Background(), name, *filters, data)
		errs, warns = append(errs, cerrs...), cwarns
	}
	if err := config.Report(stdout, *format, files, errs, warns); err != nil {
		fmt.Fprintln(stderr, "posteed-controller check:", err)
		return 1
	}
	if len(errs) > 0 {
		return 1
	}
	return 0
}

func readConfig(file string) (name string, data []byte, err error) {
	if file == "-" {
		file = stdinName
		data, err = readInput("-")
	} else {
		data, err = readInput(file)
	}
	if err != nil {
		return file, nil, fmt.Errorf("cannot read: %w", unwrap(err))
	}
	return file, data, nil
}

func unwrap(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// checkSettings loads controller.toml as the daemon would and checks its
// values.
func checkSettings(file string) (*controller.Settings, config.Errors) {
	fs := flag.NewFlagSet("controller.toml", flag.ContinueOnError)
	s := controller.Flags(fs)
	var errs config.Errors
	if err := settings.Load(fs, file, false); err != nil {
		var es config.Errors
		if !errors.As(err, &es) {
			es = config.Errors{{File: file, Msg: err.Error()}}
		}
		errs = append(errs, es...)
		for _, e := range es {
			if e.Key == "" { // unreadable or not TOML: no values to check
				return s, errs
			}
		}
	}
	c := settings.NewChecker(file)
	c.Addr("url", s.URL)
	c.Addr("tls", s.TLS)
	c.Addr("admin", s.Admin)
	c.LogLevel("log-level", s.LogLevel)
	c.Positive("body-limit", s.BodyLimit)
	c.NotNegative("work-max-bytes", s.WorkMaxBytes)
	c.Positive("runner-queue-max-messages", s.RunnerQueueMaxMessages)
	c.NotNegative("upstream-max-bytes", s.UpMaxBytes)
	c.NotNegative("events-max-bytes", s.EventsMaxBytes)
	c.Readable("tls-cert", s.TLSCert)
	c.Readable("tls-key", s.TLSKey)
	c.Readable("controller-tls-cert", s.ControllerTLSCert)
	c.Readable("controller-tls-key", s.ControllerTLSKey)
	c.Readable("controller-ca-root", s.ControllerCARoot)
	pair(c, "tls-cert", s.TLSCert, "tls-key", s.TLSKey)
	pair(c, "controller-tls-cert", s.ControllerTLSCert, "controller-tls-key", s.ControllerTLSKey)
	if u := s.ControllerURL; u != "" {
		host := u
		if strings.Contains(u, "://") {
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "nats" && p.Scheme != "tls") || p.Host == "" {
				c.Add("controller-url", "%q: want nats://HOST:PORT", u)
			}
			if err == nil {
				host = p.Host
			}
		}
		c.Addr("controller-url", host)
	}
	return s, append(errs, c.Errs...)
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
