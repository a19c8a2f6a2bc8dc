package stdout

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/actiontest"
)

func TestSend(t *testing.T) {
	tests := []struct {
		name string
		msg  action.Message
		want string
	}{
		{"title and body", action.Message{Title: "Alert", Body: "body text"}, "Alert\nbody text\n"},
		{"body only", action.Message{Body: "just body\n"}, "just body\n"},
		{"empty", action.Message{}, "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			a, err := NewWithWriter(actiontest.Spec(t, "name: out\ntype: stdout\n"), &buf)
			if err != nil {
				t.Fatal(err)
			}
			if retry, err := a.Send(context.Background(), tt.msg); err != nil || retry {
				t.Fatalf("retry=%v err=%v", retry, err)
			}
			if buf.String() != tt.want {
				t.Fatalf("wrote %q, want %q", buf.String(), tt.want)
			}
		})
	}
}

func TestConcurrentSendsDoNotInterleave(t *testing.T) {
	var buf bytes.Buffer
	a, err := NewWithWriter(actiontest.Spec(t, "name: out\ntype: stdout\n"), &buf)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 4096)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _, _ = a.Send(context.Background(), action.Message{Title: "T", Body: body}) })
	}
	wg.Wait()
	if got := strings.Count(buf.String(), "T\n"+body+"\n"); got != 8 {
		t.Fatalf("%d whole messages, want 8", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteErrorNamesAction(t *testing.T) {
	a, err := NewWithWriter(actiontest.Spec(t, "name: out\ntype: stdout\n"), failingWriter{})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := a.Send(context.Background(), action.Message{Body: "b"})
	if err == nil || retry || !strings.Contains(err.Error(), `action "out"`) {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
}

func TestUnknownKeyIsAnError(t *testing.T) {
	_, err := New(actiontest.Spec(t, "name: out\ntype: stdout\nurl: http://x\n"))
	if err == nil || !strings.Contains(err.Error(), "url: unknown key") || !strings.Contains(err.Error(), `"out"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestRegistered(t *testing.T) {
	if _, ok := action.Default.Lookup("stdout"); !ok {
		t.Fatal("stdout is not registered")
	}
}
