package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

type outcomes struct {
	mu  sync.Mutex
	got []string // "action/type/outcome"; guarded by mu
}

func (o *outcomes) ActionDone(r ActionResult) {
	o.mu.Lock()
	defer o.mu.Unlock()
	outcome := r.Outcome
	if r.Duration < 0 || r.Route != "r" || (r.Err == nil) != (outcome == "ok") {
		outcome += "(bad result)"
	}
	o.got = append(o.got, fmt.Sprintf("%s/%s/%s", r.Action, r.Type, outcome))
}

func TestObserverHearsOutcomes(t *testing.T) {
	rec := &recorder{fail: map[string]int{"flaky": 1, "broken": 5}}
	cfg := load(t, t.TempDir(), `routes:
- name: r
  actions: [good, flaky, broken]
  template: t
templates:
- name: t
  body: "title := \"t\"\nresult := \"\""
actions:
- {name: good, type: record, enable: true}
- {name: flaky, type: record, enable: true}
- {name: broken, type: record, enable: true}
`, nil)
	obs := &outcomes{}
	e, err := New(context.Background(), cfg, Options{Registry: rec.registry(), Observer: obs, Retry: RetryPolicy{Attempts: 2, Base: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	newPipeline(e).handle(t, event(t, `{}`))
	sort.Strings(obs.got)
	want := "broken/record/failed,broken/record/retried,flaky/record/ok,flaky/record/retried,good/record/ok"
	if got := strings.Join(obs.got, ","); got != want {
		t.Fatalf("outcomes %s\nwant     %s", got, want)
	}
}
