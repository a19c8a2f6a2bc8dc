package natsd_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/natsd"
	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
)

func TestSecondRunnerCannotActAsFirst(t *testing.T) {
	f := natsdtest.New(t)
	ctl, js := f.Controller(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, r := range []string{"runner-1", "runner-2"} {
		if _, err := natsd.EnsureRunnerConsumer(ctx, js, r, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(ctx, transport.Work("runner-1"), []byte("secret work")); err != nil {
		t.Fatal(err)
	}
	natsdtest.AssertIsolated(t, natsdtest.Isolation{Victim: "runner-1", Spy: "runner-2", Ctl: ctl, JS: js,
		Connect: func(opts ...nats.Option) *nats.Conn { return f.Runner(t, "runner-2", opts...) }})
}

func TestRunnerCanUseItsOwnSubjects(t *testing.T) {
	f := natsdtest.New(t)
	ctl, js := f.Controller(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := natsd.EnsureRunnerConsumer(ctx, js, "runner-1", 0); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	r1 := f.Runner(t, "runner-1", asyncErrors(errs))

	// The controller answers config requests, only on the asker's inbox.
	_, err := ctl.Subscribe(transport.AllCfgGet, func(m *nats.Msg) {
		if transport.ReplyAllowed(m.Reply) {
			_ = m.Respond([]byte("slice"))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 8)
	for _, subj := range []string{transport.AllHeartbeat, transport.AllResults} {
		if _, err := ctl.Subscribe(subj, func(m *nats.Msg) { got <- m.Subject }); err != nil {
			t.Fatal(err)
		}
	}
	if err := ctl.Flush(); err != nil {
		t.Fatal(err)
	}

	t.Run("request own config", func(t *testing.T) {
		reply, err := r1.RequestWithContext(ctx, transport.CfgGet("runner-1"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(reply.Data) != "slice" {
			t.Fatalf("reply %q", reply.Data)
		}
	})
	t.Run("receive config push", func(t *testing.T) {
		sub, err := r1.SubscribeSync(transport.CfgPush("runner-1"))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := r1.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := ctl.Publish(transport.CfgPush("runner-1"), []byte("rev 2")); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.NextMsg(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("heartbeat and result", func(t *testing.T) {
		for _, subj := range []string{transport.Heartbeat("runner-1"), transport.Result("runner-1")} {
			if err := r1.Publish(subj, []byte("{}")); err != nil {
				t.Fatal(err)
			}
			select {
			case s := <-got:
				if s != subj {
					t.Fatalf("controller got %q, want %q", s, subj)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("controller did not get %s", subj)
			}
		}
	})
	t.Run("upstream through jetstream", func(t *testing.T) {
		js1, err := jetstream.NewWithAPIPrefix(r1, transport.JSAPIPrefix)
		if err != nil {
			t.Fatal(err)
		}
		ack, err := js1.Publish(ctx, transport.Up("runner-1"), []byte("event"), jetstream.WithMsgID("ev-1"))
		if err != nil {
			t.Fatal(err)
		}
		if ack.Stream != transport.UpStream || ack.Duplicate {
			t.Fatalf("pub ack %+v", ack)
		}
	})
	if err := r1.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatalf("runner-1 got an error on its own subjects: %v", err)
	default:
	}
}

// The controller's connection is not restricted.
func TestControllerConnection(t *testing.T) {
	f := natsdtest.New(t)
	ctl, js := f.Controller(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make(chan error, 4)
	ctl2, err := f.Server.ConnectController(asyncErrors(errs))
	if err != nil {
		t.Fatal(err)
	}
	defer ctl2.Close()
	subs := []string{">", "_INBOX.>", "$JS.>"}
	for _, s := range subs {
		if _, err := ctl2.SubscribeSync(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{transport.CfgPush("runner-1"), transport.Work("runner-1") + ".x", "anything.at.all"} {
		if err := ctl2.Publish(s, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(ctx, transport.Work("runner-1"), []byte("w")); err != nil {
		t.Fatal(err)
	}
	if _, err := natsd.EnsureRunnerConsumer(ctx, js, "runner-1", 0); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, transport.WorkStream)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetMsg(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := ctl2.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatalf("controller restricted: %v", err)
	default:
	}
}
