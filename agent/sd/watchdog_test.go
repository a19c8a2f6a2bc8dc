package sd

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestWatchdog(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	unhealthy := errors.New("nats disconnected")
	tests := []struct {
		name      string
		usec, pid string
		health    []error // one per tick; the last one ends the run
		wantPings int
		wantLogs  []string
		wantErr   bool
	}{
		{name: "pings while healthy, stops when not", usec: "20000", pid: self,
			health: []error{nil, nil, nil, unhealthy, unhealthy}, wantPings: 3,
			wantLogs: []string{"health check failed", "nats disconnected"}},
		{name: "resumes after recovery", usec: "20000", pid: self,
			health: []error{nil, unhealthy, nil, nil}, wantPings: 3,
			wantLogs: []string{"health check failed", "resuming"}},
		{name: "without WATCHDOG_PID", usec: "20000", health: []error{nil, nil}, wantPings: 2},
		{name: "watchdog of another process", usec: "20000", pid: strconv.Itoa(os.Getppid())},
		{name: "no watchdog", usec: ""},
		{name: "malformed interval", usec: "soon", pid: self, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := newNotifySocket(t)
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			var logs bytes.Buffer
			n := NewNotifier(slog.New(slog.NewTextHandler(&logs, nil)))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			calls := 0
			healthy := func() error {
				if calls == len(tt.health)-1 {
					cancel()
				}
				calls++
				if calls > len(tt.health) {
					t.Errorf("health check %d after the run ended", calls)
					return nil
				}
				return tt.health[calls-1]
			}

			err := n.Watchdog(ctx, healthy)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Watchdog error = %v, want error %v", err, tt.wantErr)
			}
			if calls != len(tt.health) {
				t.Errorf("health checked %d times, want %d", calls, len(tt.health))
			}
			got := sock.messages()
			if len(got) != tt.wantPings {
				t.Errorf("got %d messages %q, want %d pings", len(got), got, tt.wantPings)
			}
			for _, m := range got {
				if m != "WATCHDOG=1" {
					t.Errorf("message %q, want WATCHDOG=1", m)
				}
			}
			for _, want := range tt.wantLogs {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log %q lacks %q", logs.String(), want)
				}
			}
		})
	}
}

func TestWatchdogOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "20000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	// Would block until the test times out if it ran the ping loop.
	if err := NewNotifier(nil).Watchdog(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
}
