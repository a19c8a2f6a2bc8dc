// Command posteed-load is the end-to-end load benchmark: it starts a
// posteed-controller (or a postee-runner with its controller) built
// elsewhere, posts events to it from concurrent keep-alive clients (or
// appends them to the Tracee file a runner follows) and prints, as a
// Markdown row, completed events/s, the daemon's CPU time per event, its
// peak RSS and the post → action latency (see internal/load and
// scripts/bench e2e). Not packaged.
package main

import (
	"flag"
	"os"
	"strings"

	"github.com/postee-fleet/posteed/internal/benchout"
	"github.com/postee-fleet/posteed/internal/load"
)

func main() {
	var o load.Options
	flag.StringVar(&o.Mode, "mode", load.ModeController, "setup: "+strings.Join(load.Modes, ", "))
	flag.StringVar(&o.ControllerBin, "controller", "", "posteed-controller binary (required)")
	flag.StringVar(&o.RunnerBin, "runner", "", "postee-runner binary (runner modes)")
	flag.StringVar(&o.Samples, "samples", "testdata/events", "directory of the sample events")
	flag.IntVar(&o.Events, "events", 3000, "events measured (with -duration: at most)")
	flag.IntVar(&o.Clients, "clients", 8, "concurrent keep-alive clients posting")
	flag.IntVar(&o.Warmup, "warmup", 200, "events sent and completed before measuring")
	flag.IntVar(&o.Window, "window", 64, "runner-tracee: Tracee lines appended whose actions have not all arrived, at most")
	flag.Float64Var(&o.Rate, "rate", 0, "events per second, all clients together (0: as fast as answered)")
	flag.DurationVar(&o.Duration, "duration", 0, "stop sending after this long (0: after -events)")
	flag.DurationVar(&o.Drain, "drain", 0, "give up when no action arrives for this long (default 30s)")
	flag.StringVar(&o.Profile, "profile", "", "write the controller's CPU profile of the measured run to this file (turns its pprof setting on)")
	flag.IntVar(&o.ProfileSeconds, "profile-seconds", 10, "seconds of CPU profile, from the first measured post")
	flag.StringVar(&o.Dir, "dir", "", "work directory: configs, certificates, logs, state (default: a temporary one, removed)")
	flag.BoolVar(&o.Keep, "keep", false, "keep the temporary work directory")
	out := benchout.Flags("posteed-load", load.TableHeader)
	flag.Parse()
	if out.HeaderOnly() {
		return
	}
	o.Progress = os.Stderr
	ctx, stop := benchout.Context()
	defer stop()
	res, err := load.Run(ctx, o)
	if res == nil || res.Posted == 0 {
		out.Print(nil, err)
		return
	}
	out.Print(res, err)
}
