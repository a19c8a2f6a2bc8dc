package transport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// CfgRequest is the body of a config request on posteed.cfg.get.<runner>.
type CfgRequest struct {
	Runner string `json:"runner"`
}

// Decode reads a runner's message strictly into v (unknown fields, trailing
// data and an empty body are errors) and checks that its sender, the
// payload's runner name, is the runner of subject. A JetStream API response
// or a job that a runner reflected onto another runner's subject is not
// well-formed or names the wrong sender, so it never passes.
func Decode(subject string, data []byte, v any, sender func() string) (runner string, err error) {
	runner = SubjectRunner(subject)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return runner, fmt.Errorf("not a runner message on %s: %w", subject, err)
	}
	if dec.More() {
		return runner, fmt.Errorf("not a runner message on %s: trailing data", subject)
	}
	if got := sender(); got != runner {
		return runner, fmt.Errorf("message on %s names sender %q", subject, got)
	}
	return runner, nil
}

// SubjectRunner is the runner token of a subject like posteed.hb.<runner>.
func SubjectRunner(subject string) string {
	i := strings.LastIndexByte(subject, '.')
	return subject[i+1:]
}
