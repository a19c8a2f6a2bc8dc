package controller

import (
	"fmt"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/engine"
)

func TestParsedEventsBounded(t *testing.T) {
	var p parsedEvents
	raw := fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 512<<10))
	for i := range 40 { // 20 MiB offered, 8 MiB kept
		ev, err := engine.ParseEvent([]byte(raw), fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		p.keep(ev)
	}
	if p.bytes > maxParsedBytes {
		t.Fatalf("%d bytes kept, bound %d", p.bytes, maxParsedBytes)
	}
	if p.take("0") != nil {
		t.Fatal("the oldest event was kept past the bound")
	}
	ev := p.take("39")
	if ev == nil || ev.ID != "39" {
		t.Fatal("the newest event is gone")
	}
	if p.take("39") != nil {
		t.Fatal("an event taken twice")
	}
}
