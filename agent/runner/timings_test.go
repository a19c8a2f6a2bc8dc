package runner

import (
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/settings"
)

// TestTimingsDefaults: every timing is a duration with a default, and a
// timing set is kept.
func TestTimingsDefaults(t *testing.T) {
	if err := settings.CheckDurations(defaultTimings); err != nil {
		t.Fatal(err)
	}
	got := Timings{ConfigWait: time.Millisecond, Retire: -1}.withDefaults()
	if got.ConfigWait != time.Millisecond {
		t.Errorf("ConfigWait set to 1ms became %v", got.ConfigWait)
	}
	got.ConfigWait = defaultTimings.ConfigWait
	if got != defaultTimings {
		t.Errorf("defaults filled as %+v, want %+v", got, defaultTimings)
	}
}
