package logxtest

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/postee-fleet/posteed/agent/logx"
)

type recorder struct {
	testing.TB
	failed []string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(f string, a ...any) { r.failed = append(r.failed, f) }

func TestChecker(t *testing.T) {
	var c Checker
	log := slog.New(c.Wrap(slog.DiscardHandler))
	log.Error("with key", logx.Err(errors.New("x")))
	log.With(logx.Err(errors.New("y"))).Error("key from With")
	log.Warn("a warning needs none")
	log.Error("no key", "err", errors.New("z"))
	r := &recorder{}
	c.Check(r)
	if len(r.failed) != 1 {
		t.Fatalf("%d failures, want the one record without the key", len(r.failed))
	}
}
