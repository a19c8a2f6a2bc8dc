package runner

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/action/exec"
)

// TestStopBounds: a job or local action started just before a stop may run
// to the exec action's default timeout, and the whole stop still ends
// before systemd's TimeoutStopSec kills the runner.
func TestStopBounds(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "systemd", "postee-runner.service"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)s?$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("postee-runner.service sets no TimeoutStopSec in seconds")
	}
	unit, err := time.ParseDuration(string(m[1]) + "s")
	if err != nil {
		t.Fatal(err)
	}
	const closing = 5 * time.Second // spool, done-log and connection after the budget
	d := defaultTimings
	stopBudget, workDrainMax, httpStopMax := d.StopBudget, d.WorkDrain, d.HTTPStop
	if stopBudget+closing > unit {
		t.Errorf("stop budget %v plus %v to close exceeds the unit's TimeoutStopSec=%v", stopBudget, closing, unit)
	}
	if workDrainMax <= exec.DefaultTimeout {
		t.Errorf("a job gets %v to end at a stop, less than exec's default timeout %v", workDrainMax, exec.DefaultTimeout)
	}
	if httpStopMax+workDrainMax > stopBudget {
		t.Errorf("taking requests (%v) then draining work (%v) overruns the stop budget %v", httpStopMax, workDrainMax, stopBudget)
	}
}
