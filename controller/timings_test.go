package controller

import (
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/settings"
	"github.com/postee-fleet/posteed/agent/transport"
)

// TestTimingsDefaults: every timing is a duration with a default, a timing
// set is kept, and the defaults keep the orders their comments give.
func TestTimingsDefaults(t *testing.T) {
	if err := settings.CheckDurations(defaultTimings); err != nil {
		t.Fatal(err)
	}
	got := Timings{Settle: time.Millisecond, Retire: -1}.withDefaults()
	if got.Settle != time.Millisecond {
		t.Errorf("Settle set to 1ms became %v", got.Settle)
	}
	got.Settle = defaultTimings.Settle
	if got != defaultTimings {
		t.Errorf("defaults filled as %+v, want %+v", got, defaultTimings)
	}
	d := defaultTimings
	for _, c := range []struct {
		what        string
		short, long time.Duration
	}{
		{"a refresh and a heartbeat within ConnectedWindow", d.RegistryRefresh + transport.HeartbeatInterval, d.ConnectedWindow},
		{"the runners' keep-alive (10 s) within WorkAckWait", 10 * time.Second, d.WorkAckWait},
		{"KeepAlive within EventAckWait", d.KeepAlive, d.EventAckWait},
		{"Announce within ControllerRefresh", d.Announce, d.ControllerRefresh},
		{"several ControllerRefresh within ControllerLive", 3 * d.ControllerRefresh, d.ControllerLive},
		{"RetryMin within RetryMax", d.RetryMin, d.RetryMax},
	} {
		if c.short >= c.long {
			t.Errorf("want %s: %v >= %v", c.what, c.short, c.long)
		}
	}
}
