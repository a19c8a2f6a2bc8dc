package load

import (
	"fmt"
	"strings"
	"time"
)

// TableHeader is the header of the Markdown table Row writes rows of.
const TableHeader = "| setup | events × clients | completed events/s | answered/s | CPU-ms/event | peak RSS | p50 post→action | p99 | load (1/5/15 min, before → after) |\n" +
	"|---|---|---|---|---|---|---|---|---|"

// Setup describes r's setup in words.
func (r *Result) Setup() string {
	switch r.Mode {
	case ModeController:
		return "controller, embedded NATS + JetStream on (as shipped)"
	case ModeControllerNoNATS:
		return "controller, NATS off (controller-mode = false)"
	case ModeRunnerWebhook:
		return "runner, webhook intake, its own http actions"
	case ModeRunnerTracee:
		return fmt.Sprintf("runner, Tracee file (%d lines in flight), its own http actions", r.Window)
	}
	return r.Mode
}

// Row is r as a row of TableHeader's table.
func (r *Result) Row() string {
	clients := fmt.Sprintf("%d × %d", r.Posted, r.Clients)
	if r.Mode == ModeRunnerTracee {
		clients = fmt.Sprintf("%d lines", r.Posted)
	}
	if r.Rate > 0 {
		clients += fmt.Sprintf(" at %.0f/s", r.Rate)
	}
	answered := fmt.Sprintf("%.0f", r.AnsweredPerSec)
	if r.Mode == ModeRunnerTracee {
		answered = "–"
	}
	return fmt.Sprintf("| %s | %s | %.0f | %s | %.3f | %.1f MiB | %s | %s | %s → %s |",
		r.Setup(), clients, r.EventsPerSec, answered, r.CPUPerEvent, float64(r.PeakRSSKiB)/1024,
		ms(r.P50), ms(r.P99), r.LoadBefore, r.LoadAfter)
}

// Details are the figures the row leaves out.
func (r *Result) Details() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d events sent, %d taken in, %d failed, %d retried after 503; %d completed, %d actions (%.2f an event)\n",
		r.Mode, r.Posted, r.Answered, r.Failed, r.Retried, r.Completed, r.Actions, float64(r.Actions)/float64(max(r.Completed, 1)))
	fmt.Fprintf(&b, "  sending took %v, first post → last action %v; latency p50 %s p90 %s p99 %s max %s\n",
		r.PostTime.Round(time.Millisecond), r.TotalTime.Round(time.Millisecond), ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max))
	if r.AnswerP50 > 0 {
		fmt.Fprintf(&b, "  post → answer p50 %s p99 %s\n", ms(r.AnswerP50), ms(r.AnswerP99))
	}
	fmt.Fprintf(&b, "  CPU: %v measured daemon (%.3f ms/event)", r.CPU.Round(10*time.Millisecond), r.CPUPerEvent)
	if r.OtherCPU > 0 {
		fmt.Fprintf(&b, ", %v its controller (%.3f ms/event)", r.OtherCPU.Round(10*time.Millisecond), perEvent(r.OtherCPU, r.Completed))
	}
	fmt.Fprintf(&b, ", %v load generator and sink (%.3f ms/event)\n", r.GeneratorCPU.Round(10*time.Millisecond), perEvent(r.GeneratorCPU, r.Completed))
	if r.Unknown+r.Extra+r.Untagged > 0 {
		fmt.Fprintf(&b, "  sink: %d requests for no event sent, %d beyond an event's routes, %d untagged\n", r.Unknown, r.Extra, r.Untagged)
	}
	return b.String()
}

func perEvent(d time.Duration, n int64) float64 {
	return float64(d) / float64(time.Millisecond) / float64(max(n, 1))
}

// ms formats a latency in milliseconds.
func ms(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
