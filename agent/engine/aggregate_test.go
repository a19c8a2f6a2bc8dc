package engine

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

const aggTemplates = `
package custom.one
title := sprintf("one %v", [input.n])
result := sprintf("body %v", [input.n])
aggregation_pkg := "custom.agg"
`

const aggPackage = `
package custom.agg
title := sprintf("%d findings", [count(input)])
result := concat(" | ", [m.description | some m in input])
`

func TestAggregateByNumber(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	cfg := load(t, dir, `
routes:
- name: three
  actions: [a]
  template: t
  plugins: {aggregate-message-number: 3}
templates:
- {name: t, rego-package: custom.one}
actions:
- {name: a, type: record, enable: true}
`, map[string]string{"rego-templates/one.rego": aggTemplates, "rego-templates/agg.rego": aggPackage})
	e, err := New(context.Background(), cfg, Options{Registry: rec.registry()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	pl := newPipeline(e)
	var held []int
	var last Match
	for i := 1; i <= 3; i++ {
		send, kept := pl.handle(t, event(t, `{"n":`+string(rune('0'+i))+`}`))
		held = append(held, len(kept))
		if len(send) > 0 {
			last = send[0]
		}
	}
	if held[0] != 1 || held[1] != 1 || held[2] != 0 {
		t.Fatalf("held = %v", held)
	}
	if last.Msg.Title != "3 findings" || last.Msg.Body != "body 1 | body 2 | body 3" {
		t.Fatalf("aggregated %q / %q", last.Msg.Title, last.Msg.Body)
	}
	if got := strings.Join(rec.got(), ","); got != "a:three:3 findings" {
		t.Fatalf("sent %s", got)
	}
}

func TestAggregateByTimeoutAndOnClose(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	cfg := load(t, dir, `
routes:
- name: timed
  template: t
  actions: [a]
  plugins: {aggregate-message-timeout: 200ms}
- name: on-close
  template: plain
  actions: [a]
  plugins: {aggregate-message-number: 100}
templates:
- {name: t, rego-package: custom.one}
- name: plain
  body: "title := \"plain\"\nresult := sprintf(\"p%v\", [input.n])"
actions:
- {name: a, type: record, enable: true}
`, map[string]string{"rego-templates/one.rego": aggTemplates, "rego-templates/agg.rego": aggPackage})
	var mu sync.Mutex
	var flushed []string
	e, err := New(context.Background(), cfg, Options{Registry: rec.registry()})
	if err != nil {
		t.Fatal(err)
	}
	pl := newPipeline(e)
	pl.p = NewPlugins(PluginsOptions{ScanEvery: 20 * time.Millisecond})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		pl.p.Run(ctx, func() *Engine { return e }, func(ctx context.Context, ms []Match) {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range ms {
				flushed = append(flushed, m.Route.Name+"="+m.Msg.Title+"/"+m.Msg.Body)
			}
			pl.p.Done(ctx, ms)
		})
	}()
	for _, n := range []string{"1", "2"} {
		pl.handle(t, event(t, `{"n":`+n+`}`))
	}
	got := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(flushed, ",")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(got(), "timed=2 findings/body 1 | body 2") {
		if time.Now().After(deadline) {
			t.Fatalf("timeout flush missing: %s", got())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(got(), "on-close") {
		t.Fatal("flushed before its number or close")
	}
	stop() // held in memory, they are sent when the daemon stops
	<-done
	if !strings.Contains(got(), "on-close=2 messages: plain; plain/p1\n\np2") {
		t.Fatalf("close did not flush: %q", got())
	}
	if len(rec.got()) != 0 {
		t.Fatalf("held messages were sent directly: %v", rec.got())
	}
}

func TestAggregateKeepsSourcesApartAndLosesNothing(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	cfg := load(t, dir, `
routes:
- name: two
  actions: [a]
  template: t
  plugins: {aggregate-message-number: 2}
- name: broken
  actions: [a]
  template: b
  plugins: {aggregate-message-number: 2}
templates:
- {name: t, rego-package: custom.one}
- name: b
  body: "title := \"b\"\nresult := \"b\"\naggregation_pkg := \"no.such.package\""
actions:
- {name: a, type: record, enable: true}
`, map[string]string{"rego-templates/one.rego": aggTemplates, "rego-templates/agg.rego": aggPackage})
	e, err := New(context.Background(), cfg, Options{Registry: rec.registry()})
	if err != nil {
		t.Fatal(err)
	}
	pl := newPipeline(e)
	send := func(from, js string) (send []Match, kept []Match) {
		ev := event(t, js)
		ev.From, ev.FromRan = from, from != ""
		return pl.handle(t, ev)
	}
	// Events from runner r1 and from the controller's own intake are
	// batched apart: each batch goes to one place.
	if s, _ := send("r1", `{"n":1}`); len(s) != 0 {
		t.Fatal("first r1 event not held")
	}
	if s, _ := send("", `{"n":2}`); len(s) != 0 {
		t.Fatal("direct event joined r1's batch")
	}
	ms, _ := send("r1", `{"n":3}`)
	var two []Match
	for _, m := range ms {
		if m.Route.Name == "two" {
			two = append(two, m)
		}
	}
	if len(two) != 1 || two[0].Msg.Body != "body 1 | body 3" || two[0].From() != "r1" || !strings.HasPrefix(two[0].Msg.EventID, "agg-") {
		t.Fatalf("r1 batch = %+v", two)
	}
	// A failing aggregation package sends the held messages one by one,
	// each under its own event id.
	var broken []Match
	sent, _ := send("", `{"n":4}`)
	for _, m := range sent {
		if m.Route.Name == "broken" {
			broken = append(broken, m)
		}
	}
	if len(broken) != 2 || broken[0].Msg.EventID == broken[1].Msg.EventID {
		t.Fatalf("broken aggregation sent %+v, want the 2 held ones", broken)
	}
	// A released batch starts over: the next message is held again, in a
	// batch with a new id.
	if s, _ := send("r1", `{"n":5}`); len(s) != 0 {
		t.Fatal("message after a released batch not held")
	}
	s6, _ := send("r1", `{"n":6}`)
	if len(s6) == 0 || s6[0].Route.Name != "two" || s6[0].Msg.EventID == two[0].Msg.EventID {
		t.Fatalf("second batch %+v reuses the first's id %s", s6, two[0].Msg.EventID)
	}
}
