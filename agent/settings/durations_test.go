package settings

import (
	"testing"
	"time"
)

func TestDurations(t *testing.T) {
	type timings struct{ A, B, C time.Duration }
	def := timings{A: time.Second, B: time.Minute, C: time.Hour}
	if err := CheckDurations(def); err != nil {
		t.Fatal(err)
	}
	if got := Durations(timings{A: time.Millisecond, B: -1}, def); got != (timings{A: time.Millisecond, B: time.Minute, C: time.Hour}) {
		t.Fatalf("filled as %+v", got)
	}
	if err := CheckDurations(timings{A: time.Second}); err == nil {
		t.Fatal("a table without a default for B passed")
	}
	type mixed struct {
		A time.Duration
		N int
	}
	if err := CheckDurations(mixed{A: time.Second, N: 1}); err == nil {
		t.Fatal("a table with an int passed")
	}
}
