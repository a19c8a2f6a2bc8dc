// Package cli is postee-runner's command line.
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
	"github.com/postee-fleet/posteed/agent/runner"
	"github.com/postee-fleet/posteed/agent/settings"
)

const usage = `postee-runner: runs the Postee actions placed on this host and reports its events.

Usage:
  postee-runner [run] [flags]     run the daemon (flags: postee-runner run --help)
  postee-runner check [--config FILE] [--format json]
                                  validate runner.toml (default /etc/postee/runner.toml): FILE: valid, or every problem
  postee-runner version           print the version, commit and Go version (also --version)
  postee-runner help              this text (also --help, -h)

Settings are read from /etc/postee/runner.toml (--config); flags win. The
runner's routes, templates and actions come from the controller.
`

// Main runs the command line and returns the exit code.
func Main(args []string, version string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || topLevel(args[0])) {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
	case "check":
		return check(args, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprint(stdout, buildinfo.String("postee-runner", version))
		return 0
	case "help", "--help", "-h", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "postee-runner: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	err := run(args, version, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "postee-runner:", err)
		return 1
	}
	return 0
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

func run(args []string, version string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("postee-runner run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	s := runner.Flags(fs)
	mem := daemon.MemoryFlag(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprint(stdout, buildinfo.String("postee-runner", version))
		return nil
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	fromEnv, err := settings.ApplyEnv(fs, runner.Env, os.LookupEnv)
	if err != nil {
		return err
	}
	if err := settings.Load(fs, s.ConfigFile, !explicit, "discovery"); err != nil {
		return err
	}
	d, err := runner.LoadDiscovery(s.ConfigFile)
	if err != nil {
		return err
	}
	s.TraceeFiles = d.TraceeFiles
	if err := s.ResolveCredentials(); err != nil {
		return err
	}
	if err := runner.CheckIdentity(s.Name, s.TLSCert); err != nil {
		return err
	}
	env, err := daemon.Start(s.LogLevel, &s.URL, &s.TLS)
	if err != nil {
		return err
	}
	settings.LogEnv(env.Log, fromEnv)
	daemon.ApplyMemoryLimit(mem, env.Log)
	r, err := runner.New(env.Ctx, runner.Options{Settings: *s, Logger: env.Log, Notifier: env.Notifier, Listeners: env.Listeners, Version: version})
	if err != nil {
		env.Close()
		return err
	}
	return env.Serve(r.Healthy, r.Run)
}
