package natsdtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/transport"
)

// nats-server 2.10 sometimes starts a cluster whose meta leader never
// places a replicated stream ("no suitable peers for placement" for minutes:
// before 2.12 every peer must have reported itself, nats-server#7075), or
// places it and then serves no consumer; the tests of posteed would then
// fail on the servers, not on posteed. StartCluster probes the cluster the
// way the controllers use it and starts it again when it fails.
const (
	probeWait     = 30 * time.Second
	probeAttempts = 3
)

// probe creates a replicated stream and a consumer, stores one message
// and reads it back, then deletes the stream; it retries until probeWait.
func (c *Cluster) probe(o ClusterOptions) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeWait)
	defer cancel()
	tlsCfg, err := transport.TLSConfig(o.CertFile, o.KeyFile, o.CAFile)
	if err != nil {
		return err
	}
	seed, err := nats.NkeyOptionFromSeed(o.ProbeSeed)
	if err != nil {
		return err
	}
	conn, err := nats.Connect(c.URLs(), nats.Secure(tlsCfg), seed, nats.Name("natsdtest-probe"))
	if err != nil {
		return err
	}
	defer conn.Close()
	js, err := jetstream.New(conn)
	if err != nil {
		return err
	}
	for {
		err = roundTrip(ctx, js)
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond): // polling: nothing tells when the meta leader can place
		}
	}
}

func roundTrip(ctx context.Context, js jetstream.JetStream) (err error) {
	step, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := js.CreateOrUpdateStream(step, jetstream.StreamConfig{Name: "NATSDTEST_PROBE",
		Subjects: []string{"natsdtest.probe"}, Replicas: 3, Storage: jetstream.FileStorage})
	if err != nil {
		return fmt.Errorf("create stream: %w", err)
	}
	defer func() {
		if derr := js.DeleteStream(context.Background(), "NATSDTEST_PROBE"); derr != nil && err == nil {
			err = fmt.Errorf("delete stream: %w", derr)
		}
	}()
	cons, err := st.CreateOrUpdateConsumer(step, jetstream.ConsumerConfig{Durable: "probe", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		return fmt.Errorf("create consumer: %w", err)
	}
	if _, err := js.Publish(step, "natsdtest.probe", []byte("probe")); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	for m := range batch.Messages() {
		return m.Ack()
	}
	if batch.Error() != nil {
		return fmt.Errorf("fetch: %w", batch.Error())
	}
	return errors.New("fetch: the stored message was not delivered")
}

// metaState is each running server's view of the JetStream meta group, for
// the log of a failed probe.
func (c *Cluster) metaState() string {
	var b strings.Builder
	for _, s := range c.Servers {
		if !s.running() {
			continue
		}
		resp, err := http.Get("http://" + s.monitor + "/jsz")
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", s.Name, err)
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4000))
		resp.Body.Close()
		fmt.Fprintf(&b, "%s /jsz: %s\n", s.Name, body)
	}
	return b.String()
}

// kill stops every server of a cluster StartCluster gives up on.
func (c *Cluster) kill() {
	c.abandoned = true
	for _, s := range c.Servers {
		s.Kill()
	}
}
