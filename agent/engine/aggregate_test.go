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
	var held []bool
	var last Match
	for i := 1; i <= 3; i++ {
		ms, err := e.Handle(context.Background(), event(t, `{"n":`+string(rune('0'+i))+`}`), "")
		if err != nil || len(ms) != 1 {
			t.Fatalf("%v %v", err, ms)
		}
		held = append(held, ms[0].Held)
		last = ms[0]
	}
	if held[0] != true || held[1] != true || held[2] != false {
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
	e, err := New(context.Background(), cfg, Options{Registry: rec.registry(), OnFlush: func(_ context.Context, _ *Engine, m Match) {
		mu.Lock()
		defer mu.Unlock()
		flushed = append(flushed, m.Route.Name+"="+m.Msg.Title+"/"+m.Msg.Body)
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"1", "2"} {
		if _, err := e.Handle(context.Background(), event(t, `{"n":`+n+`}`), ""); err != nil {
			t.Fatal(err)
		}
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
	e.Close() // held messages are not lost on reload or stop
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
	send := func(from, js string) []Match {
		ev := event(t, js)
		ev.From, ev.FromRan = from, from != ""
		ms, err := e.Evaluate(context.Background(), ev, "")
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	// Events from runner r1 and from the controller's own intake are
	// batched apart: each batch goes to one place.
	if ms := send("r1", `{"n":1}`); !ms[0].Held {
		t.Fatal("first r1 event not held")
	}
	if ms := send("", `{"n":2}`); !ms[0].Held {
		t.Fatal("direct event joined r1's batch")
	}
	ms := send("r1", `{"n":3}`)
	var two []Match
	for _, m := range ms {
		if m.Route.Name == "two" {
			two = append(two, m)
		}
	}
	if len(two) != 1 || two[0].Held || two[0].Msg.Body != "body 1 | body 3" || two[0].From() != "r1" {
		t.Fatalf("r1 batch = %+v", two)
	}
	// A failing aggregation package sends the held messages one by one.
	var broken []Match
	for _, m := range send("", `{"n":4}`) {
		if m.Route.Name == "broken" && !m.Held {
			broken = append(broken, m)
		}
	}
	if len(broken) != 2 {
		t.Fatalf("broken aggregation sent %d messages, want the 2 held ones", len(broken))
	}
	e.Close()
	// After Close nothing is held any more.
	for _, m := range send("", `{"n":5}`) {
		if m.Held {
			t.Fatalf("route %s held a message after Close", m.Route.Name)
		}
	}
}
