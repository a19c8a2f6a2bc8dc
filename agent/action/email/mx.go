package email

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/logx"
)

// sendMX delivers to each recipient domain's mail exchangers in preference
// order, as an MTA would; the first host that accepts wins.
func (e *Email) sendMX(ctx context.Context, rcpts []string, m action.Message) error {
	var errs []error
	for domain, group := range byDomain(rcpts) {
		if err := e.sendDomain(ctx, domain, group, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *Email) sendDomain(ctx context.Context, domain string, rcpts []string, m action.Message) error {
	mxs, err := e.lookupMX(ctx, domain)
	if err != nil {
		return fmt.Errorf("mx lookup for %s: %w", domain, err)
	}
	if len(mxs) == 0 {
		return fmt.Errorf("no mx host for %s: %w", domain, action.ErrPermanent)
	}
	var last error
	for _, mx := range mxs {
		srv := server{host: strings.TrimSuffix(mx.Host, "."), port: e.cfg.Port, helo: e.cfg.ClientHostName, rootCAs: e.rootCAs, starttls: e.cfg.StartTLS}
		if last = e.deliver(ctx, srv, rcpts, m); last == nil {
			return nil
		}
		e.log.Warn("mx host refused the message", "domain", domain, "mx", srv.host, logx.Err(last))
	}
	return fmt.Errorf("every mx host for %s failed, last: %w", domain, last)
}

func byDomain(rcpts []string) map[string][]string {
	out := map[string][]string{}
	for _, r := range rcpts {
		d := strings.ToLower(r[strings.LastIndexByte(r, '@')+1:])
		out[d] = append(out[d], r)
	}
	return out
}
