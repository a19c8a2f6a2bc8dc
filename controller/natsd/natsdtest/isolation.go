package natsdtest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/transport"
)

// Isolation is what AssertIsolated probes: the same on the embedded server
// and on a cluster whose runners the auth callout admits.
type Isolation struct {
	Victim, Spy string
	// Ctl is a connection in the fleet's account, JS its JetStream; the
	// victim has work queued and a slice stored before the probe.
	Ctl *nats.Conn
	JS  jetstream.JetStream
	// Connect opens the spy's connection (its own certificate) with opts.
	Connect func(opts ...nats.Option) *nats.Conn
}

// AssertIsolated checks that the spy runner reaches nothing of the
// victim's by any subject, stream, bucket or JetStream API call: every
// attempt is a permission violation, the fleet's account sees none of it,
// and the victim's work and slice are untouched.
func AssertIsolated(t *testing.T, o Isolation) {
	t.Helper()
	v, s := o.Victim, o.Spy
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before := workCount(ctx, t, o.JS, v)
	victimSubjects := []string{
		transport.CfgPush(v), transport.CfgGet(v), transport.Heartbeat(v),
		transport.Up(v), transport.Result(v), transport.Work(v), transport.InboxPrefix(v) + ".>",
	}
	var seen atomic.Int64
	for _, subj := range victimSubjects {
		sub, err := o.Ctl.Subscribe(subj, func(*nats.Msg) { seen.Add(1) })
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
	}
	if err := o.Ctl.Flush(); err != nil {
		t.Fatal(err)
	}

	errs := make(chan error, 64)
	spy := o.Connect(nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	subs := []string{
		transport.CfgPush(v), transport.Work(v), transport.AllWork, "$KV.>", "$KV." + transport.SliceBucket + ".>",
		"_INBOX.>", transport.InboxPrefix(v) + ".>", ">", "posteed.>", "$JS.>",
	}
	for _, subj := range subs {
		t.Run("subscribe "+subj, func(t *testing.T) {
			sub, err := spy.SubscribeSync(subj)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			ExpectViolation(t, errs, "Subscription", subj)
		})
	}
	t.Run("queue subscribe "+transport.CfgPush(v), func(t *testing.T) {
		sub, err := spy.QueueSubscribeSync(transport.CfgPush(v), "q")
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		ExpectViolation(t, errs, "Subscription", transport.CfgPush(v))
	})

	pubs := []string{
		transport.Up(v), transport.Heartbeat(v), transport.Result(v), transport.CfgGet(v),
		transport.CfgPush(v), // answering for the controller
		transport.Work(v),    // queueing work for another runner
		transport.InboxPrefix(v) + ".x.y",
		"$JS.API.CONSUMER.MSG.NEXT." + transport.WorkStream + "." + v,
		"$JS.API.CONSUMER.INFO." + transport.WorkStream + "." + v,
		transport.JSAPIPrefix + ".CONSUMER.MSG.NEXT." + transport.WorkStream + "." + v,
		transport.JSAPIPrefix + ".CONSUMER.INFO." + transport.WorkStream + "." + v,
		transport.SliceGet(v),
		"$JS.API.CONSUMER.MSG.NEXT." + transport.WorkStream + "." + s, // its own, but not through the fleet's exports
		"$JS.API.DIRECT.GET.KV_" + transport.SliceBucket + ".$KV." + transport.SliceBucket + "." + s,
		transport.JSAPIPrefix + ".DIRECT.GET.KV_" + transport.SliceBucket,
		transport.JSAPIPrefix + ".STREAM.MSG.GET.KV_" + transport.SliceBucket,
		"$JS.API.CONSUMER.DELETE." + transport.WorkStream + "." + v,
		"$JS.API.CONSUMER.CREATE." + transport.WorkStream + ".spy.posteed.work." + v,
		"$JS.API.CONSUMER.DURABLE.CREATE." + transport.WorkStream + ".spy",
		"$JS.API.CONSUMER.CREATE.KV_" + transport.SliceBucket,
		"$JS.API.STREAM.MSG.GET." + transport.WorkStream,
		"$JS.API.DIRECT.GET." + transport.WorkStream,
		"$JS.API.DIRECT.GET." + transport.WorkStream + ".posteed.work." + v,
		"$JS.API.STREAM.PURGE." + transport.WorkStream,
		"$JS.API.STREAM.INFO." + transport.WorkStream,
		"$JS.API.STREAMS",
		"$JS.ACK." + transport.WorkStream + "." + v + ".1.1.1.1.0",
		// Read as the victim's v1 ack at stream sequence <spy>: a spy
		// named with digits acking the victim's job through the v2 grant.
		"$JS.ACK." + transport.WorkStream + "." + v + "." + transport.WorkStream + "." + s + ".1.1.0",
		"$SYS.REQ.SERVER.PING",
		"$SYS.REQ.USER.AUTH",
	}
	for _, subj := range pubs {
		t.Run("publish "+subj, func(t *testing.T) {
			if err := spy.PublishRequest(subj, transport.InboxPrefix(s)+".x", []byte(`{"batch":1}`)); err != nil {
				t.Fatal(err)
			}
			ExpectViolation(t, errs, "Publish", subj)
		})
	}
	t.Run("jetstream api for the victim's consumer", func(t *testing.T) {
		js2, err := jetstream.NewWithAPIPrefix(spy, transport.JSAPIPrefix)
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := js2.Consumer(short, transport.WorkStream, v); err == nil {
			t.Fatal("the spy looked up the victim's consumer")
		}
		ExpectViolation(t, errs, "Publish", transport.JSAPIPrefix+".CONSUMER.INFO."+transport.WorkStream+"."+v)
	})

	// Everything the spy sent was processed before its PONG, and reached
	// the controller's pending buffer before the controller's own PONG.
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := o.Ctl.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := seen.Load(); n != 0 {
		t.Fatalf("the fleet's account saw %d messages from the spy on the victim's subjects", n)
	}
	if after := workCount(ctx, t, o.JS, v); after != before {
		t.Fatalf("the victim's queue holds %d jobs, %d before the spy", after, before)
	}
}

// workCount is how many jobs wait for runner.
func workCount(ctx context.Context, t *testing.T, js jetstream.JetStream, runner string) uint64 {
	t.Helper()
	st, err := js.Stream(ctx, transport.WorkStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(transport.Work(runner)))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[transport.Work(runner)]
}

// ExpectViolation waits for the server to report a permission violation of
// kind ("Publish" or "Subscription") on subject.
func ExpectViolation(t *testing.T, errs <-chan error, kind, subject string) {
	t.Helper()
	want := `Permissions Violation for ` + kind + ` to "` + subject + `"`
	timeout := time.After(5 * time.Second)
	for {
		select {
		case err := <-errs:
			if strings.Contains(err.Error(), want) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q reported", want)
		}
	}
}
