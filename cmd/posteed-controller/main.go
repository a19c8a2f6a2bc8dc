// Command posteed-controller receives security events, matches them against
// Postee routes, runs actions and delegates runner actions over TLS NATS.
package main

import (
	"os"

	"github.com/postee-fleet/posteed/controller/cli"
)

var version = "dev"

func main() { os.Exit(cli.Main(os.Args[1:], version, os.Stdout, os.Stderr)) }
