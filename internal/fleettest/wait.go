package fleettest

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, or fails the test after 20 s.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stays checks that cond keeps holding for 0.6 s: used to catch an event
// delivered or an action run twice, an absence no condition can await.
func Stays(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 30 {
		if !cond() {
			t.Fatalf("%s no longer holds", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
