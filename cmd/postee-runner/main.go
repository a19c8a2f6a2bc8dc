// Command postee-runner runs on every host: it takes events locally, runs
// the actions placed on it and reports every event to the controller.
package main

import (
	"os"

	"github.com/postee-fleet/posteed/agent/runner/cli"
)

var version = "dev"

func main() { os.Exit(cli.Main(os.Args[1:], version, os.Stdout, os.Stderr)) }
