package splunk

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
)

// bulky are the scan-report keys Postee drops, in this order, to bring an
// event under the size limit.
var bulky = []string{"resources", "malware", "sensitive_data"}

// hecEvent is one event in HEC's JSON format.
type hecEvent struct {
	SourceType string `json:"sourcetype"`
	Event      any    `json:"event"`
}

// encode returns the HEC body for m: a JSON body is sent as the event itself
// (Postee's templates for Splunk render JSON), anything else inside a small
// object. Too-big scan reports lose their bulky keys first.
func encode(m action.Message, limit int) ([]byte, error) {
	var event any
	if err := json.Unmarshal([]byte(m.Body), &event); err != nil {
		event = map[string]string{"title": m.Title, "description": m.Body, "url": m.URL}
	}
	obj, _ := event.(map[string]any)
	for _, key := range append([]string{""}, bulky...) {
		if key != "" {
			if _, ok := obj[key]; !ok {
				continue
			}
			delete(obj, key)
		}
		b, err := json.Marshal(hecEvent{SourceType: "_json", Event: event})
		if err != nil {
			return nil, err
		}
		if len(b) <= limit {
			return b, nil
		}
	}
	return nil, fmt.Errorf("event for %q is over size-limit %d bytes: %w", subject(m), limit, action.ErrPermanent)
}

func subject(m action.Message) string {
	s := strings.Join(strings.Fields(m.Title), " ")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
