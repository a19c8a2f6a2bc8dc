package natsd_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/natsd"
	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
)

// workSetup queues one message for runner-1 and returns runner-1's view of
// its consumer and the controller's view of the stream.
func workSetup(t *testing.T, ackWait time.Duration) (ctx context.Context, own jetstream.Consumer, work jetstream.Stream) {
	t.Helper()
	f := natsdtest.New(t)
	_, js := f.Controller(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	if _, err := natsd.EnsureRunnerConsumer(ctx, js, "runner-1", ackWait); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, transport.Work("runner-1"), []byte("job"), jetstream.WithMsgID("job-1")); err != nil {
		t.Fatal(err)
	}
	js1, err := jetstream.NewWithAPIPrefix(f.Runner(t, "runner-1"), transport.JSAPIPrefix)
	if err != nil {
		t.Fatal(err)
	}
	own, err = js1.Consumer(ctx, transport.WorkStream, "runner-1")
	if err != nil {
		t.Fatal(err)
	}
	work, err = js.Stream(ctx, transport.WorkStream)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, own, work
}

func fetchOne(t *testing.T, c jetstream.Consumer, wait time.Duration) jetstream.Msg {
	t.Helper()
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(wait))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		return m
	}
	if err := batch.Error(); err != nil {
		t.Fatal(err)
	}
	return nil
}

func TestAckedWorkIsGone(t *testing.T) {
	ctx, own, work := workSetup(t, 300*time.Millisecond)
	m := fetchOne(t, own, 5*time.Second)
	if m == nil || string(m.Data()) != "job" {
		t.Fatalf("runner-1 did not get its job: %v", m)
	}
	if err := m.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := work.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State.Msgs != 0 {
		t.Fatalf("%d messages left after ack, want 0", st.State.Msgs)
	}
	// Longer than AckWait: an acked message must not come back.
	if m := fetchOne(t, own, time.Second); m != nil {
		t.Fatalf("acked job redelivered: %q", m.Data())
	}
}

func TestUnackedWorkIsRedelivered(t *testing.T) {
	_, own, _ := workSetup(t, 300*time.Millisecond)
	first := fetchOne(t, own, 5*time.Second)
	if first == nil {
		t.Fatal("no job")
	}
	again := fetchOne(t, own, 5*time.Second)
	if again == nil {
		t.Fatal("un-acked job not redelivered")
	}
	md, err := again.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if md.NumDelivered != 2 || string(again.Data()) != "job" {
		t.Fatalf("redelivery %q delivered %d times, want job twice", again.Data(), md.NumDelivered)
	}
	if err := again.Ack(); err != nil {
		t.Fatal(err)
	}
}

func TestDuplicateWorkIsDropped(t *testing.T) {
	f := natsdtest.New(t)
	_, js := f.Controller(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, wantDup := range []bool{false, true} {
		ack, err := js.Publish(ctx, transport.Up("runner-1"), []byte("ev"), jetstream.WithMsgID("ev-1"))
		if err != nil {
			t.Fatal(err)
		}
		if ack.Duplicate != wantDup {
			t.Fatalf("publish %d: duplicate=%v, want %v", i, ack.Duplicate, wantDup)
		}
	}
}

func TestEnsureStreams(t *testing.T) {
	f := natsdtest.New(t)
	_, js := f.Controller(t) // creates them once
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsd.EnsureStreams(ctx, js, natsd.Limits{}); err != nil {
		t.Fatalf("second EnsureStreams: %v", err)
	}
	tests := []struct {
		name    string
		subject string
	}{
		{transport.WorkStream, transport.AllWork},
		{transport.UpStream, transport.AllUp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := js.Stream(ctx, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			cfg := s.CachedInfo().Config
			if len(cfg.Subjects) != 1 || cfg.Subjects[0] != tt.subject || cfg.Storage != jetstream.FileStorage ||
				cfg.Retention != jetstream.WorkQueuePolicy || cfg.Duplicates != natsd.DedupeWindow {
				t.Fatalf("config %+v", cfg)
			}
		})
	}
	// Work-queue retention: nobody can open a second consumer on a runner's queue.
	if _, err := natsd.EnsureRunnerConsumer(ctx, js, "runner-1", 0); err != nil {
		t.Fatal(err)
	}
	_, err := js.CreateConsumer(ctx, transport.WorkStream, jetstream.ConsumerConfig{
		Durable: "spy", FilterSubject: transport.Work("runner-1"), AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err == nil {
		t.Fatal("second consumer on runner-1's work accepted")
	}
	if _, err := natsd.EnsureRunnerConsumer(ctx, js, "bad.name", 0); err == nil {
		t.Fatal("consumer for an invalid runner name created")
	}
}

// Known limit, pinned so config sync keeps handling it: a runner can attach
// another runner's config subject as the reply of its own JetStream API
// requests, and JetStream answers there. Reflected stored messages keep their
// original subject and API answers carry no headers, so a runner must accept
// a config push only with Subject == CfgPush(self) and the controller's
// headers (or read its config from a KV bucket instead).
func TestReflectionOntoConfigSubject(t *testing.T) {
	f := natsdtest.New(t)
	_, js := f.Controller(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := natsd.EnsureRunnerConsumer(ctx, js, "runner-2", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, transport.Work("runner-2"), []byte("work for runner-2")); err != nil {
		t.Fatal(err)
	}
	r1 := f.Runner(t, "runner-1")
	sub, err := r1.SubscribeSync(transport.CfgPush("runner-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.Flush(); err != nil {
		t.Fatal(err)
	}
	r2 := f.Runner(t, "runner-2")
	for _, api := range []string{"$JS.API.CONSUMER.MSG.NEXT.POSTEED_WORK.runner-2", "$JS.API.CONSUMER.INFO.POSTEED_WORK.runner-2"} {
		if err := r2.PublishRequest(api, transport.CfgPush("runner-1"), []byte(`{"batch":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		m, err := sub.NextMsg(5 * time.Second)
		if errors.Is(err, nats.ErrTimeout) {
			return // the server stopped reflecting: even better
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject == transport.CfgPush("runner-1") && len(m.Header) > 0 {
			t.Fatalf("reflected message indistinguishable from a config push: %v %q", m.Header, m.Data)
		}
	}
}

// TestWorkStreamTakesMoreThanAThousandRunners: nats-server 2.15 and later
// give a stream without its own consumer limit 1,000 consumers; the work
// stream sets its own, so runner 1,001 gets its queue too.
func TestWorkStreamTakesMoreThanAThousandRunners(t *testing.T) {
	f := natsdtest.New(t)
	_, js := f.Controller(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range 1005 {
		if _, err := js.CreateOrUpdateConsumer(ctx, transport.WorkStream, jetstream.ConsumerConfig{
			Durable: fmt.Sprintf("r%04d", i), FilterSubject: transport.Work(fmt.Sprintf("r%04d", i)), AckPolicy: jetstream.AckExplicitPolicy,
		}); err != nil {
			t.Fatalf("runner %d's consumer: %v", i+1, err)
		}
	}
}
