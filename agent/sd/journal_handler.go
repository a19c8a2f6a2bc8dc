package sd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"

	"github.com/coreos/go-systemd/v22/journal"
)

// sendFunc has the shape of journal.Send; tests record instead of sending.
type sendFunc func(msg string, pri journal.Priority, fields map[string]string) error

// journalHandler writes each record as one native journal entry with its
// attributes as fields (see fieldName for the naming).
type journalHandler struct {
	send  sendFunc
	level slog.Leveler
	ident string
	// fallback receives a record journald refused, so it is not lost.
	fallback slog.Handler
	groups   []string // open groups, outermost first
	fields   []field  // from WithAttrs, already named under their groups
}

type field struct{ name, value string }

var _ slog.Handler = (*journalHandler)(nil)

func newJournalHandler(send sendFunc, level slog.Leveler, ident string, fallback slog.Handler) *journalHandler {
	return &journalHandler{send: send, level: level, ident: ident, fallback: fallback}
}

func (h *journalHandler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.level != nil {
		min = h.level.Level()
	}
	return l >= min
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	fields := make(map[string]string, 4+len(h.fields)+r.NumAttrs())
	fields["SYSLOG_IDENTIFIER"] = h.ident
	addSource(fields, r.PC)
	for _, f := range h.fields {
		fields[f.name] = f.value
	}
	r.Attrs(func(a slog.Attr) bool {
		flatten(h.groups, a, func(name, value string) { fields[name] = value })
		return true
	})
	err := h.send(r.Message, priority(r.Level), fields)
	if err == nil {
		return nil
	}
	// journald may be restarting, or the entry may not fit its socket.
	return errors.Join(fmt.Errorf("journal send: %w", err), h.fallback.Handle(ctx, r))
}

func (h *journalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	c := *h
	c.fields = slices.Clip(h.fields)
	for _, a := range attrs {
		flatten(h.groups, a, func(name, value string) { c.fields = append(c.fields, field{name, value}) })
	}
	c.fallback = h.fallback.WithAttrs(attrs)
	return &c
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.groups = append(slices.Clip(h.groups), name)
	c.fallback = h.fallback.WithGroup(name)
	return &c
}

func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	default:
		return journal.PriDebug
	}
}

// addSource fills journald's own CODE_* fields, which journalctl shows with
// -o verbose, so no POSTEE_SOURCE attribute is needed.
func addSource(fields map[string]string, pc uintptr) {
	if pc == 0 {
		return
	}
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	fields["CODE_FILE"] = f.File
	fields["CODE_LINE"] = strconv.Itoa(f.Line)
	fields["CODE_FUNC"] = f.Function
}
