package daemon

import (
	"errors"
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	var g Gate
	if err := g.Enter(); err != nil {
		t.Fatal(err)
	}
	g.Close()
	if err := g.Enter(); !errors.Is(err, ErrStopping) {
		t.Fatalf("entered a closed gate: %v", err)
	}
	waited := make(chan struct{})
	go func() { g.Wait(); close(waited) }()
	select {
	case <-waited:
		t.Fatal("Wait returned with work inside")
	case <-time.After(20 * time.Millisecond):
	}
	g.Leave()
	<-waited
}
