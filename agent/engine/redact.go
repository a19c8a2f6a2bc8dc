package engine

import (
	"net/url"
	"strings"
	"sync"
)

// redactor holds every secret value the engine's actions resolved (tokens,
// passwords, URLs, and the passwords inside URLs): a server echoing a
// header or a script printing its token must not put them in an error text
// that is logged or shipped to the controller.
type redactor struct {
	mu     sync.Mutex
	values []string // guarded by mu
}

// minSecret is the shortest value redacted: shorter ones would blank out
// ordinary words of an error text.
const minSecret = 4

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
}

// text returns s with every secret value replaced by "[REDACTED]".
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
