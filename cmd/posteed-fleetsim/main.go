// Command posteed-fleetsim runs a simulated fleet of runners against real
// posteed-controller processes and prints what it measured (see
// internal/fleetsim and scripts/fleet-sim). Not packaged.
package main

import (
	"flag"
	"os"

	"github.com/postee-fleet/posteed/internal/benchout"
	"github.com/postee-fleet/posteed/internal/fleetsim"
)

func main() {
	var o fleetsim.Options
	flag.StringVar(&o.Topology, "topology", "embedded", "embedded (one controller, its NATS server) or cluster (3 nats-servers, 2 controllers)")
	flag.IntVar(&o.N, "n", 1000, "simulated runners")
	flag.StringVar(&o.ControllerBin, "controller", "", "posteed-controller binary (required)")
	flag.StringVar(&o.NATSServerBin, "nats-server", "", "nats-server binary for the cluster (default: $POSTEED_NATS_SERVER, or built)")
	flag.StringVar(&o.Dir, "dir", "", "work directory: certificates, configs, logs, stores (default: a temporary one, removed)")
	flag.BoolVar(&o.Keep, "keep", false, "keep the temporary work directory")
	flag.Float64Var(&o.ConnectRate, "connect-rate", 200, "runners starting to connect per second")
	flag.DurationVar(&o.ReadyTimeout, "ready-timeout", 0, "wait for the whole fleet at most this long (default: 3 min past the connect phase)")
	flag.DurationVar(&o.Settle, "settle", 10e9, "pause after the fleet is ready, before measuring idle")
	flag.DurationVar(&o.Idle, "idle", 30e9, "idle window measured")
	flag.IntVar(&o.Events, "events", 300, "events posted for the dispatch latency")
	flag.Float64Var(&o.EventRate, "event-rate", 20, "events posted per second")
	flag.IntVar(&o.Reloads, "reloads", 2, "reloads measured")
	flag.DurationVar(&o.Heartbeat, "heartbeat", 0, "runner heartbeat interval (default: the runner's, 5s)")
	flag.StringVar(&o.ControllerMemoryLimit, "controller-memory-limit", "", "the controllers' --memory-limit (default auto: none outside a unit; posteed-controller.service makes it 1228MiB)")
	out := benchout.Flags("posteed-fleetsim", fleetsim.TableHeader)
	flag.Parse()
	if out.HeaderOnly() {
		return
	}
	o.Progress = os.Stderr
	ctx, stop := benchout.Context()
	defer stop()
	res, err := fleetsim.Run(ctx, o)
	if res == nil {
		out.Print(nil, err)
		return
	}
	out.Print(res, err)
}
