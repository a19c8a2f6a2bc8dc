package natsd_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/natsd"
	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
)

// runner1Subjects are the plain subjects that carry runner-1's name.
var runner1Subjects = []string{
	transport.CfgPush("runner-1"), transport.CfgGet("runner-1"), transport.Heartbeat("runner-1"),
	transport.Up("runner-1"), transport.Result("runner-1"), transport.Work("runner-1"),
	transport.InboxPrefix("runner-1") + ".>",
}

// watch counts every message the controller sees on runner-1's subjects.
func watch(t *testing.T, nc *nats.Conn) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	for _, subj := range runner1Subjects {
		if _, err := nc.Subscribe(subj, func(*nats.Msg) { n.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &n
}

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
	seen := watch(t, ctl)

	errs := make(chan error, 64)
	r2 := f.Runner(t, "runner-2", asyncErrors(errs))

	subs := []string{
		transport.CfgPush("runner-1"), transport.Work("runner-1"), transport.AllWork,
		"_INBOX.>", transport.InboxPrefix("runner-1") + ".>", ">", "posteed.>", "$JS.>",
	}
	for _, subj := range subs {
		t.Run("subscribe "+subj, func(t *testing.T) {
			sub, err := r2.SubscribeSync(subj)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			expectViolation(t, errs, "Subscription", subj)
		})
	}
	t.Run("queue subscribe "+transport.CfgPush("runner-1"), func(t *testing.T) {
		sub, err := r2.QueueSubscribeSync(transport.CfgPush("runner-1"), "q")
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		expectViolation(t, errs, "Subscription", transport.CfgPush("runner-1"))
	})

	pubs := []string{
		transport.Up("runner-1"), transport.Heartbeat("runner-1"), transport.Result("runner-1"),
		transport.CfgGet("runner-1"),
		transport.CfgPush("runner-1"), // answering for the controller
		transport.Work("runner-1"),    // queueing work for another runner
		transport.InboxPrefix("runner-1") + ".x.y",
		"$JS.API.CONSUMER.MSG.NEXT.POSTEED_WORK.runner-1",
		"$JS.API.CONSUMER.INFO.POSTEED_WORK.runner-1",
		transport.JSAPIPrefix + ".CONSUMER.MSG.NEXT.POSTEED_WORK.runner-1",
		transport.JSAPIPrefix + ".CONSUMER.INFO.POSTEED_WORK.runner-1",
		transport.SliceGet("runner-1"),
		"$JS.API.CONSUMER.MSG.NEXT.POSTEED_WORK.runner-2", // its own, but not through the fleet's exports
		"$JS.API.DIRECT.GET.KV_posteed_slices.$KV.posteed_slices.runner-2",
		"$JS.API.CONSUMER.DELETE.POSTEED_WORK.runner-1",
		"$JS.API.CONSUMER.CREATE.POSTEED_WORK.spy.posteed.work.runner-1",
		"$JS.API.CONSUMER.DURABLE.CREATE.POSTEED_WORK.spy",
		"$JS.API.STREAM.MSG.GET.POSTEED_WORK",
		"$JS.API.DIRECT.GET.POSTEED_WORK",
		"$JS.API.DIRECT.GET.POSTEED_WORK.posteed.work.runner-1",
		"$JS.API.STREAM.PURGE.POSTEED_WORK",
		"$JS.API.STREAM.INFO.POSTEED_WORK",
		"$JS.API.STREAMS",
		"$JS.ACK.POSTEED_WORK.runner-1.1.1.1.1.0",
		// Read as runner-1's v1 ack of stream sequence "runner-2": a runner
		// named 32 acked runner-1's job at sequence 32 through the v2 grant.
		"$JS.ACK.POSTEED_WORK.runner-1.POSTEED_WORK.runner-2.1.1.0",
		"$SYS.REQ.SERVER.PING",
	}
	for _, subj := range pubs {
		t.Run("publish "+subj, func(t *testing.T) {
			if err := r2.PublishRequest(subj, transport.InboxPrefix("runner-2")+".x", []byte(`{"batch":1}`)); err != nil {
				t.Fatal(err)
			}
			expectViolation(t, errs, "Publish", subj)
		})
	}

	t.Run("jetstream api for runner-1's consumer", func(t *testing.T) {
		js2, err := jetstream.NewWithAPIPrefix(r2, transport.JSAPIPrefix)
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := js2.Consumer(short, transport.WorkStream, "runner-1"); err == nil {
			t.Fatal("runner-2 looked up runner-1's consumer")
		}
		expectViolation(t, errs, "Publish", transport.JSAPIPrefix+".CONSUMER.INFO.POSTEED_WORK.runner-1")
	})

	// Everything runner-2 sent was processed before its PONG, and reached
	// the controller's pending buffer before the controller's own PONG.
	if err := r2.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := seen.Load(); n != 0 {
		t.Fatalf("controller saw %d messages from runner-2 on runner-1's subjects", n)
	}

	// runner-1's work is still there, unread and unacked.
	info, err := js.Stream(ctx, transport.WorkStream)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := info.Info(ctx); err != nil || st.State.Msgs != 1 {
		t.Fatalf("work stream state %+v, %v; want runner-1's message kept", st, err)
	}
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
