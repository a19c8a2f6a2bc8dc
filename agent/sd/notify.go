package sd

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify(3) state changes to the service manager. It reads
// NOTIFY_SOCKET on every call, so a Notifier made outside systemd stays silent.
type Notifier struct {
	log *slog.Logger
}

// NewNotifier returns a Notifier that reports watchdog health failures to log.
func NewNotifier(log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{log: log}
}

// Ready tells systemd that start-up or a reload finished. Send it only once
// listeners are bound and the config is loaded: systemd orders dependent
// units on it.
func (n *Notifier) Ready(status string) error {
	return n.send(daemon.SdNotifyReady, statusLine(status))
}

// Reloading opens a reload bracket; close it with Ready. MONOTONIC_USEC lets
// systemd ≥ 253 (Type=notify-reload) match the bracket to the request; older
// versions ignore it.
func (n *Notifier) Reloading() error {
	return n.send(daemon.SdNotifyReloading, strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n"))
}

// Status sets the free-form line `systemctl status` shows.
func (n *Notifier) Status(s string) error {
	return n.send(statusLine(s))
}

// Stopping tells systemd that shutdown began, so it does not mistake the
// drain time for a hang.
func (n *Notifier) Stopping() error {
	return n.send(daemon.SdNotifyStopping)
}

func (n *Notifier) send(lines ...string) error {
	var b strings.Builder
	for _, l := range lines {
		if l == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	if _, err := daemon.SdNotify(false, b.String()); err != nil {
		return fmt.Errorf("sd_notify %q: %w", b.String(), err)
	}
	return nil
}

// statusLine keeps a status on one line: a newline would start a new
// assignment in the notify protocol.
func statusLine(s string) string {
	if s == "" {
		return ""
	}
	return "STATUS=" + strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// StateNotifier is what a daemon tells the service manager; *Notifier is
// the real one, tests pass their own.
type StateNotifier interface {
	Ready(status string) error
	Reloading() error
	Status(s string) error
	Stopping() error
}

var _ StateNotifier = (*Notifier)(nil)
