package tracefile

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/postee-fleet/posteed/agent/logx"
)

// readFile delivers every complete line available in t. It returns early
// only when ctx is done.
func (f *Follower) readFile(ctx context.Context, t *tracker) {
	if _, err := f.truncated(t); err != nil {
		f.log.Warn("tracefile: cannot check file size", "path", t.path, logx.Err(err))
		return
	}
	for ctx.Err() == nil {
		l, ok, err := t.lr.next()
		if err != nil {
			f.log.Warn("tracefile: read failed", "path", t.path, logx.Err(err))
			return
		}
		if !ok || f.deliver(ctx, t, l) != nil {
			break
		}
	}
	f.summarizeBad(t, false)
}

// deliver hands one line over, or skips it when bad, and records it as done.
func (f *Follower) deliver(ctx context.Context, t *tracker, l rawLine) error {
	t.number++
	switch {
	case l.tooLong:
		f.skip(t, l, "line longer than MaxLine")
	case len(bytes.TrimSpace(l.data)) == 0:
	case !validJSON(l.data):
		f.skip(t, l, "line is not valid JSON")
	default:
		line := Line{Path: t.path, Pattern: t.pattern, FileKey: t.key, Offset: l.offset, Number: t.number, Data: l.data}
		if err := f.handle(ctx, line); err != nil {
			t.number--
			return err
		}
		t.lines.Add(1)
		f.totals.lines.Add(1)
	}
	t.bytes.Add(l.size)
	f.totals.bytes.Add(l.size)
	t.done.Store(l.offset + l.size)
	t.doneNum = t.number
	f.dirty++
	f.commitIfDue()
	return nil
}

// A file of garbage (a binary file matching a glob, a producer writing
// another format) must not fill the journal: the first maxBadLineWarnings
// bad lines of a file are logged one by one, the rest are counted, and the
// count is logged at most every badLineSummaryEvery and when the file is
// closed. Stats and STATUS count them all.
const (
	maxBadLineWarnings  = 10
	badLineSummaryEvery = time.Minute
)

func (f *Follower) skip(t *tracker, l rawLine, reason string) {
	n := t.bad.Add(1)
	f.totals.bad.Add(1)
	if f.opts.BadLine != nil {
		f.opts.BadLine(t.pattern)
	}
	if n > maxBadLineWarnings {
		t.badUnlogged++
		return
	}
	args := []any{"path", t.path, "line", t.number, "offset", l.offset, "bytes", l.size, "reason", reason}
	if n == maxBadLineWarnings {
		args = append(args, "next", fmt.Sprintf("further bad lines of this file are counted, and the count logged at most every %s", badLineSummaryEvery))
	}
	f.log.Warn("tracefile: skipping bad line", args...)
}

// summarizeBad logs how many bad lines of t went unlogged since the last
// summary: when now is set, or once badLineSummaryEvery has passed.
func (f *Follower) summarizeBad(t *tracker, now bool) {
	if t.badUnlogged == 0 || (!now && time.Since(t.badSummary) < badLineSummaryEvery) {
		return
	}
	f.log.Warn("tracefile: bad lines skipped", "path", t.path, "skipped", t.badUnlogged, "bad_lines", t.bad.Load())
	t.badUnlogged, t.badSummary = 0, time.Now()
}

// handle calls Handle until it succeeds: its failures are transient (a full
// spool), and skipping the line would lose the event.
func (f *Follower) handle(ctx context.Context, l Line) error {
	delay := f.opts.RetryMin
	for attempt := 1; ; attempt++ {
		err := f.opts.Handle(ctx, l)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.log.Warn("tracefile: handler failed, retrying", "path", l.Path, "line", l.Number,
			"attempt", attempt, "retry_in", delay, logx.Err(err))
		f.commitIfDue() // lines before this one are done; do not hold them back
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		delay = min(2*delay, f.opts.RetryMax)
	}
}
