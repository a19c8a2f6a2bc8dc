package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/natsd"
)

// An event taken over HTTP is stored in POSTEED_EVENTS before its producer
// is answered, so it is handled even if this controller dies right after:
// by itself after a restart, or by another controller. It is stored with
// the routes it matched at the revision in force, so it is not matched
// twice; its fields come first and the event last (not re-encoded).
type storedEvent struct {
	ID       string   `json:"id"`
	Route    string   `json:"route,omitempty"` // posted to /tenant/{route}
	Revision int64    `json:"revision"`
	Routes   []string `json:"routes"`
	Event    []byte   `json:"-"`
}

const storedEventField = `,"event":`

func (s storedEvent) encode() ([]byte, error) {
	head, err := transport.Marshal(struct {
		ID       string   `json:"id"`
		Route    string   `json:"route,omitempty"`
		Revision int64    `json:"revision"`
		Routes   []string `json:"routes"`
	}{s.ID, s.Route, s.Revision, s.Routes})
	if err != nil {
		return nil, err
	}
	head = bytes.TrimRight(head, "\n")
	b := make([]byte, 0, len(head)+len(storedEventField)+len(s.Event)+1)
	b = append(b, head[:len(head)-1]...)
	b = append(b, storedEventField...)
	b = append(b, s.Event...)
	return append(b, '}'), nil
}

func decodeStored(b []byte) (storedEvent, error) {
	var s storedEvent
	i := bytes.Index(b, []byte(storedEventField))
	if i < 0 || b[len(b)-1] != '}' {
		return s, errors.New("stored event without its event")
	}
	head := append(append([]byte(nil), b[:i]...), '}')
	if err := json.Unmarshal(head, &s); err != nil {
		return s, fmt.Errorf("stored event: %w", err)
	}
	s.Event = b[i+len(storedEventField) : len(b)-1]
	return s, nil
}

// accept stores an event taken over HTTP; a controller handles it.
func (f *fleet) accept(ctx context.Context, s storedEvent) error {
	b, err := s.encode()
	if err != nil {
		return err
	}
	if err := transport.Fits(f.bus.nc, len(b)); err != nil {
		return err
	}
	msg := nats.NewMsg(natsd.EventsSubject)
	msg.Data = b
	msg.Header.Set(jetstream.MsgIDHeader, s.ID)
	if _, err := f.bus.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("event not stored, send it again: %w", err)
	}
	return nil
}

// keepParsed keeps ev for this controller's onEvent; its Raw becomes the
// bytes stored (trimmed), so the event handled is the same either way.
func (f *fleet) keepParsed(ev *engine.Event, stored []byte) {
	ev.Raw = stored
	f.parsed.keep(ev)
}

// onEvent handles an event taken over HTTP by any controller.
func (f *fleet) onEvent(m jetstream.Msg) {
	f.handleMsg(m, func(ctx context.Context, replay bool) error {
		s, err := decodeStored(m.Data())
		if err != nil {
			f.log.Error("unreadable stored event dropped", logx.Err(err))
			return errTerminal
		}
		ev := f.parsed.take(s.ID)
		if ev != nil && !bytes.Equal(ev.Raw, s.Event) {
			ev = nil // not the event this controller stored under that id
		}
		if ev == nil {
			ev, err = engine.ParseEvent(s.Event, s.ID)
		}
		if err != nil {
			f.log.Error("stored event not JSON; dropped", "event_id", s.ID, logx.Err(err))
			return errTerminal
		}
		if err := f.d.Handle(ctx, ev, s.Route, s.Routes, s.Revision, replay); err != nil {
			return fmt.Errorf("event %s: %w", s.ID, err)
		}
		return nil
	})
}
