// Package cli is posteed-controller's command line: run (the daemon),
// check, test (dry run), runners (fleet view), certs, version.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	_ "github.com/postee-fleet/posteed/agent/action/all" // every action type
	"github.com/postee-fleet/posteed/agent/buildinfo"
	"github.com/postee-fleet/posteed/agent/daemon"
	"github.com/postee-fleet/posteed/agent/settings"
	"github.com/postee-fleet/posteed/controller"
)

const usage = `posteed-controller: Postee routes, templates and actions for a fleet of runners.

Usage:
  posteed-controller [run] [flags]                 run the daemon (flags: posteed-controller run --help)
  posteed-controller check [--cfgfile FILE|-] [--config controller.toml] [--format json]
                                                   validate cfg.yaml (and controller.toml): FILE: valid, or every problem
  posteed-controller test --cfgfile FILE --event EVENT.json [--route NAME] [--expect ROUTE]
                                                   dry run: matching routes, rendered messages, what actions would
                                                   send and where they run; --expect fails unless ROUTE matches
  posteed-controller runners [--config FILE] [--url HOST:PORT]
                                                   list the runners known to a running controller (asks the
                                                   admin address of /etc/postee/controller.toml)
  posteed-controller certs --dir DIR --controller-host HOST RUNNER[=HOST,...]...
                                                   the runner channel's certificates: a CA (reused when DIR has one),
                                                   the controller's and one per runner (certs --help)
  posteed-controller nkey --out FILE [RUNNER]      create a runner's nkey seed file (its runner-seed-file) and print its runner-nkeys entry
  posteed-controller nats-config [--config controller.toml]
                                                   for a NATS cluster shared by controllers: create the nkey seeds
                                                   controller.toml names (when missing) and print the fragment every
                                                   server's config includes (README, Scaling out)
  posteed-controller version                       print the version, commit and Go version (also --version)
  posteed-controller help                          this text (also --help, -h)

Settings are read from /etc/postee/controller.toml (--config); flags win over
Postee's environment variables (POSTEE_CFG, POSTEE_HTTP, ...), which win over
the file.
`

// Main runs the command line and returns the exit code.
func Main(args []string, version string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || topLevel(args[0])) {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = run(args, version, stdout, stderr)
	case "check":
		return check(args, stdout, stderr)
	case "test":
		err = dryRun(args, stdout, stderr)
	case "runners":
		err = runners(args, stdout, stderr)
	case "certs":
		err = certs(args, stdout, stderr)
	case "nkey":
		err = nkey(args, stdout, stderr)
	case "nats-config":
		err = natsConfig(args, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprint(stdout, buildinfo.String("posteed-controller", version))
		return 0
	case "help", "--help", "-h", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "posteed-controller: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "posteed-controller:", err)
		return 1
	}
	return 0
}

func run(args []string, version string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("posteed-controller run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	s := controller.Flags(fs)
	mem := daemon.MemoryFlag(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprint(stdout, buildinfo.String("posteed-controller", version))
		return nil
	}
	fromEnv, err := settings.ApplyEnv(fs, controller.Env, os.LookupEnv)
	if err != nil {
		return err
	}
	if err := settings.Load(fs, s.ConfigFile, !isSet(fs, "config")); err != nil {
		return err
	}
	if err := s.ResolveCredentials(); err != nil {
		return err
	}
	env, err := daemon.Start(s.LogLevel, &s.URL, &s.TLS)
	if err != nil {
		return err
	}
	settings.LogEnv(env.Log, fromEnv)
	daemon.TuneGC()
	daemon.ApplyMemoryLimit(mem, env.Log)
	c, err := controller.New(env.Ctx, controller.Options{Settings: *s, Logger: env.Log, Notifier: env.Notifier, Listeners: env.Listeners, Version: version})
	if err != nil {
		env.Close()
		return err
	}
	return env.Serve(c.Healthy, c.Run)
}

// topLevel reports whether a first argument starting with "-" is the
// program's own --help or --version rather than a flag of run.
func topLevel(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "-version", "--version":
		return true
	}
	return false
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// defaultCfgFile is where check and test look without --cfgfile: Postee's
// POSTEE_CFG (or older AQUAALERT_CFG) when set, as the daemon does.
func defaultCfgFile() string {
	for _, v := range []string{"POSTEE_CFG", "AQUAALERT_CFG"} {
		if f := os.Getenv(v); f != "" {
			return f
		}
	}
	return "/etc/postee/cfg.yaml"
}
