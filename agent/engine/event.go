package engine

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Event is one incoming security event, parsed once: the same parsed value
// feeds every route filter, template and action.
type Event struct {
	ID    string
	Raw   []byte
	Doc   any       // decoded JSON, numbers as json.Number
	value ast.Value // Doc as Rego input
	// Host is the host the event came from, when known (runner envelope or
	// Tracee's hostName), for origin routing.
	Host string
}

// ErrNotJSON is returned by ParseEvent for a body that is not one JSON value.
var ErrNotJSON = errors.New("event is not valid JSON")

// ParseEvent parses raw JSON into an Event with id (a new random id when id is "").
func ParseEvent(raw []byte, id string) (*Event, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the first JSON value", ErrNotJSON)
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	if id == "" {
		id = NewID()
	}
	return &Event{ID: id, Raw: raw, Doc: doc, value: v, Host: HostOf(doc)}, nil
}

// NewID returns a random 128-bit event id in hex.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// HostOf finds the host an event names: Tracee's current `hostName`, or the
// legacy `Context.hostName`.
func HostOf(doc any) string {
	m, ok := doc.(map[string]any)
	if !ok {
		return ""
	}
	if h, ok := m["hostName"].(string); ok && h != "" {
		return h
	}
	if c, ok := m["Context"].(map[string]any); ok {
		if h, ok := c["hostName"].(string); ok {
			return h
		}
	}
	return ""
}
