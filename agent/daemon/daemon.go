// Package daemon holds the start-up both mains share: logging set up for the
// journal or a terminal, signals (SIGTERM stops, SIGHUP reloads), socket
// activation and the watchdog.
package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/postee-fleet/posteed/agent/sd"
)

// Logger returns the daemon logger at level ("debug", "info", "warn", "error").
func Logger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(sd.NewLogHandler(os.Stderr, l)), nil
}

// Signals returns a context cancelled by SIGTERM/SIGINT and a channel that
// receives on SIGHUP.
func Signals() (context.Context, <-chan struct{}, func()) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ctx, reload, func() { signal.Stop(hup); stop() }
}

// EngineGCPercent is the GC target the controller runs with: Rego
// evaluation allocates a lot of short-lived memory, and at Go's default
// (100) the collector took a third of the engine's CPU time in
// BenchmarkEngine. GOGC in the environment still wins. The heap it allows
// (five times the live data) is capped by the soft memory limit (see
// MemoryLimit), past which the collector runs as often as it must.
const EngineGCPercent = 400

// TuneGC applies EngineGCPercent unless GOGC is set.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(EngineGCPercent)
	}
}

// Env is what a daemon's main sets up before it runs: the logger, the
// sockets systemd passed, the signals and the service manager notifier.
type Env struct {
	Log       *slog.Logger
	Listeners map[string][]net.Listener
	Ctx       context.Context // done on SIGTERM/SIGINT
	Reload    <-chan struct{} // SIGHUP
	Notifier  *sd.Notifier
	stop      func()
}

// Start builds the Env. url and tls are the daemon's HTTP and HTTPS intake
// settings: under socket activation a listener systemd did not pass is off.
func Start(logLevel string, url, tls *string) (*Env, error) {
	log, err := Logger(logLevel)
	if err != nil {
		return nil, err
	}
	listeners, err := sd.Listeners("http", "https")
	if err != nil {
		return nil, err
	}
	OnlyActivated(listeners, map[string]*string{"http": url, "https": tls}, log)
	ctx, reload, stop := Signals()
	return &Env{Log: log, Listeners: listeners, Ctx: ctx, Reload: reload, Notifier: sd.NewNotifier(log), stop: stop}, nil
}

// Serve pings the watchdog while healthy and runs the daemon until it stops.
func (e *Env) Serve(healthy func() error, run func(ctx context.Context, reload <-chan struct{}) error) error {
	defer e.stop()
	go func() { _ = e.Notifier.Watchdog(e.Ctx, healthy) }()
	return run(e.Ctx, e.Reload)
}

// Close releases the signal handlers when the daemon never got to Serve.
func (e *Env) Close() { e.stop() }
