package runner

import (
	"reflect"
	"testing"
	"time"
)

// TestTimingsDefaults: every timing is a duration with a default, and a
// timing set is kept.
func TestTimingsDefaults(t *testing.T) {
	def := reflect.ValueOf(defaultTimings)
	for i := range def.NumField() {
		f := def.Type().Field(i)
		if f.Type != reflect.TypeFor[time.Duration]() {
			t.Fatalf("Timings.%s is a %s, want a time.Duration", f.Name, f.Type)
		}
		if def.Field(i).Int() <= 0 {
			t.Errorf("Timings.%s has no default", f.Name)
		}
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
