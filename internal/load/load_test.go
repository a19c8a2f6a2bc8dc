package load

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
	_ "github.com/postee-fleet/posteed/agent/action/all"
	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/engine"
)

var samplesDir = filepath.Join("..", "..", "testdata", "events")

// TestTaggedRoundTrip: the sequence number survives the raw-json
// rendering the sink receives.
func TestTaggedRoundTrip(t *testing.T) {
	all, err := webhookSamples(samplesDir)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := traceeSamples(samplesDir)
	if err != nil {
		t.Fatal(err)
	}
	eng := compileCfg(t, "")
	for i, s := range append(all, tr...) {
		seq := 1000*i + 7
		ev, err := engine.ParseEvent(s.tagged(seq), "")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		ms, err := eng.Evaluate(context.Background(), ev, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			t.Fatalf("%s matches no route", s.name)
		}
		for _, m := range ms {
			if got, ok := seqOf([]byte(m.Msg.Body)); !ok || got != seq {
				t.Fatalf("%s via %s: seq %d %v, want %d in %.200s", s.name, m.Route.Name, got, ok, seq, m.Msg.Body)
			}
		}
	}
	for _, bad := range []string{`{}`, `{"posteed_load_seq":"x"}`, `{"posteed_load_seq" : }`, `{"posteed_load_seq":12345678901}`} {
		if n, ok := seqOf([]byte(bad)); ok {
			t.Errorf("seqOf(%s) = %d", bad, n)
		}
	}
	if n, ok := seqOf([]byte(`{"a":1, "posteed_load_seq" : 42}`)); !ok || n != 42 {
		t.Errorf("seqOf with spaces = %d %v", n, ok)
	}
}

// TestRoutesMatchTheSamples: every webhook sample matches two of the ten
// routes, each Tracee line one or two, and six routes match something.
func TestRoutesMatchTheSamples(t *testing.T) {
	eng := compileCfg(t, runnerName)
	if n := len(eng.Routes()); n != 10 {
		t.Fatalf("%d routes", n)
	}
	hit := map[string]bool{}
	count := func(s sample) int {
		ev, err := engine.ParseEvent(s.tagged(1), "")
		if err != nil {
			t.Fatal(err)
		}
		rs, err := eng.Match(context.Background(), ev, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			hit[r.Name] = true
		}
		return len(rs)
	}
	wh, _ := webhookSamples(samplesDir)
	for _, s := range wh {
		if n := count(s); n != 2 {
			t.Errorf("%s matches %d routes, want 2", s.name, n)
		}
	}
	tr, _ := traceeSamples(samplesDir)
	for _, s := range tr {
		if n := count(s); n < 1 || n > 2 {
			t.Errorf("%s matches %d routes", s.name, n)
		}
	}
	if len(hit) < 6 {
		t.Errorf("only routes %v match", hit)
	}
}

func compileCfg(t *testing.T, runsOn string) *engine.Engine {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "cfg.yaml"), []byte(cfgYAML("http://127.0.0.1:1", runsOn)))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(context.Background(), cfg, engine.Options{Registry: action.Default, Previews: true})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// TestTracker: an event completes once its expected actions arrived,
// whichever of the answer and the arrivals comes first, and only once.
func TestTracker(t *testing.T) {
	tr := newTracker(3 * pageSize)
	for seq := range 3 {
		tr.slot(seq, true).posted.Store(tr.now())
	}
	tr.arrived(0) // before the answer
	tr.expect(0, 2)
	tr.arrived(0)
	tr.expect(1, 1)
	tr.arrived(1)
	tr.arrived(1) // one too many
	tr.expect(2, 0)
	tr.arrived(2*pageSize + 5) // a page never made
	if c, e, u := tr.completed.Load(), tr.extra.Load(), tr.unknown.Load(); c != 3 || e != 1 || u != 1 {
		t.Fatalf("completed %d extra %d unknown %d", c, e, u)
	}
}

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if q := fmt.Sprint(quantile(d, 0.5), quantile(d, 0.99), quantile(d, 1), quantile(nil, 0.5)); q != "50ns 99ns 100ns 0s" {
		t.Fatal(q)
	}
}
