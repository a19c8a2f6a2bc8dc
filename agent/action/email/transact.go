package email

import (
	"cmp"
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
)

// transact runs one mail transaction. The message goes to every recipient
// or to none: a server that refuses one gets no DATA, so a retry never
// sends the others a second copy.
func transact(c *smtp.Client, msg *message) error {
	if err := c.Mail(msg.from); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := offer(c, msg.to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg.data); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	// The reply to the final dot. Without one, the server may still have
	// taken the message (RFC 1047): the error stays retryable, since
	// delivery is at least once and a duplicate beats a lost alert.
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

// offer names every recipient and reports all that the server refused.
func offer(c *smtp.Client, to []string) error {
	var refused refusedError
	for _, rcpt := range to {
		err := c.Rcpt(rcpt)
		var reply *textproto.Error
		switch {
		case err == nil:
		case errors.As(err, &reply):
			refused = append(refused, refusal{rcpt, reply})
		default:
			return fmt.Errorf("rcpt to %s: %w", rcpt, err)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	// retryable reads the first reply it finds, and one permanent refusal
	// makes a retry of the whole message pointless: permanent ones first.
	slices.SortStableFunc(refused, func(a, b refusal) int { return cmp.Compare(b.reply.Code/100, a.reply.Code/100) })
	return refused
}

type refusal struct {
	rcpt  string
	reply *textproto.Error
}

// refusedError lists the recipients a server refused, with its replies.
type refusedError []refusal

func (e refusedError) Error() string {
	parts := make([]string, len(e))
	for i, r := range e {
		parts[i] = r.rcpt + ": " + r.reply.Error()
	}
	return "recipients refused: " + strings.Join(parts, "; ")
}

func (e refusedError) Unwrap() []error {
	errs := make([]error, len(e))
	for i, r := range e {
		errs[i] = r.reply
	}
	return errs
}
