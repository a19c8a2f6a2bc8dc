package engine

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// redactor holds every secret value the engine's actions resolved: the
// typed config values (config.Secret, SecretURL, referenced Text) register
// themselves here while they are decoded. A server echoing a header or a
// script printing its token must not put them in an error text that is
// logged or shipped to the controller, nor in an action's own log lines.
type redactor struct {
	mu     sync.Mutex
	values []string // longest first; guarded by mu
}

// minSecret is the shortest value redacted: shorter ones would blank out
// ordinary words of an error text.
const minSecret = 4

// credential is an Authorization-style value: a scheme word, one space and
// the credential ("Bearer abc", "Basic dXNlcjpwdw==", "GenieKey k").
var credential = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]* (\S+)$`)

func (r *redactor) add(v string) {
	v = strings.TrimSpace(v)
	if len(v) < minSecret {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values = append(r.values, v)
	if u, err := url.Parse(v); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && len(p) >= minSecret {
			r.values = append(r.values, p, url.PathEscape(p))
		}
		r.values = append(r.values, u.User.String())
	}
	if m := credential.FindStringSubmatch(v); m != nil && len(m[1]) >= minSecret {
		r.values = append(r.values, m[1]) // echoed without its scheme
		if b, err := base64.StdEncoding.DecodeString(m[1]); err == nil {
			if user, pw, ok := strings.Cut(string(b), ":"); ok && len(pw) >= minSecret {
				r.values = append(r.values, user+":"+pw, pw)
			}
		}
	}
	sort.SliceStable(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
}

// text returns s with every secret value replaced by "[REDACTED]", longest
// first so that a value containing another goes whole.
func (r *redactor) text(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.values {
		if len(v) >= minSecret {
			s = strings.ReplaceAll(s, v, "[REDACTED]")
		}
	}
	return s
}

// redactedError is err with its text redacted; errors.Is and As still see
// the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (r *redactor) error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := r.text(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

// Redact removes every secret value of the engine's actions from s: for
// texts that leave the engine another way than Send's error.
func (e *Engine) Redact(s string) string { return e.redact.text(s) }

// handler wraps an action's log handler so that what an action logs itself
// (a script's output, an API error it works around) is redacted as Send's
// errors are.
func (r *redactor) handler(h slog.Handler) slog.Handler { return &redactHandler{next: h, r: r} }

type redactHandler struct {
	next slog.Handler
	r    *redactor
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.text(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.attr(a)
	}
	return &redactHandler{next: h.next.WithAttrs(red), r: h.r}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{next: h.next.WithGroup(name), r: h.r}
}

// attr redacts text, errors and anything printable; numbers, times and
// durations carry no secret and are kept as they are.
func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.text(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, x := range g {
			red[i] = h.attr(x)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.Any(a.Key, h.r.error(err))
		}
		if s := v.String(); h.r.text(s) != s {
			return slog.String(a.Key, h.r.text(s))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
