// Command posteed-fleetsim runs a simulated fleet of runners against real
// posteed-controller processes and prints what it measured (see
// internal/fleetsim and scripts/fleet-sim). Not packaged.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

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
	header := flag.Bool("header", false, "print the Markdown table's header before the row")
	onlyHeader := flag.Bool("print-header", false, "print the Markdown table's header and exit")
	jsonOut := flag.String("json", "", "also write the full result as JSON to this file")
	flag.Parse()
	if *onlyHeader {
		fmt.Println(fleetsim.TableHeader)
		return
	}
	o.Progress = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := fleetsim.Run(ctx, o)
	if res != nil {
		fmt.Fprint(os.Stderr, "\n"+res.Details()+"\n")
		if *jsonOut != "" {
			b, _ := json.MarshalIndent(res, "", "  ")
			if werr := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); werr != nil {
				fmt.Fprintln(os.Stderr, "posteed-fleetsim:", werr)
			}
		}
		if err == nil {
			if *header {
				fmt.Println(fleetsim.TableHeader)
			}
			fmt.Println(res.Row())
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "posteed-fleetsim:", err)
		os.Exit(1)
	}
}
