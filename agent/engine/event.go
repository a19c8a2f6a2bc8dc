package engine

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Event is one incoming security event, parsed once: the same parsed value
// feeds every route filter, template and action.
type Event struct {
	ID    string
	Raw   []byte
	value ast.Value // the event as Rego input

	docOnce sync.Once
	doc     any // decoded JSON for actions, made on first use
	// Host is the host the event came from, when known (runner envelope or
	// Tracee's hostName), for origin routing.
	Host string
	// From is the runner that reported the event ("" if it came directly);
	// FromRan says it evaluated the event with a config of its own and ran
	// its own actions, which the controller then leaves out.
	From    string
	FromRan bool
}

// ErrNotJSON is returned by ParseEvent for a body that is not one JSON value.
var ErrNotJSON = errors.New("event is not valid JSON")

// ParseEvent parses raw JSON into an Event with id (a new random id when id is "").
func ParseEvent(raw []byte, id string) (*Event, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrNotJSON)
	}
	v, err := parseValue(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	if id == "" {
		id = NewID()
	}
	return &Event{ID: id, Raw: raw, value: v, Host: hostOf(v)}, nil
}

// Doc is the event decoded as encoding/json does with UseNumber, for the
// actions (event.input.<path> substitution); only events that match a
// route pay for it.
func (e *Event) Doc() any {
	e.docOnce.Do(func() {
		dec := json.NewDecoder(bytes.NewReader(e.Raw))
		dec.UseNumber()
		_ = dec.Decode(&e.doc) // parsed before: cannot fail
	})
	return e.doc
}

var hostNameKey, contextKey = ast.StringTerm("hostName"), ast.StringTerm("Context")

// hostOf finds the host an event names: Tracee's current `hostName`, or
// the legacy `Context.hostName`.
func hostOf(v ast.Value) string {
	obj, ok := v.(ast.Object)
	if !ok {
		return ""
	}
	if t := obj.Get(hostNameKey); t != nil {
		if s, ok := t.Value.(ast.String); ok && s != "" {
			return string(s)
		}
	}
	if c := obj.Get(contextKey); c != nil {
		if co, ok := c.Value.(ast.Object); ok {
			if t := co.Get(hostNameKey); t != nil {
				if s, ok := t.Value.(ast.String); ok {
					return string(s)
				}
			}
		}
	}
	return ""
}

// NewID returns a random 128-bit event id in hex.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
