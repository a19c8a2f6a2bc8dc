package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/settings"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller"
)

// dryRun shows what an event would do, running no action.
func dryRun(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("posteed-controller test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgfile := fs.String("cfgfile", defaultCfgFile(), "Postee config (default: $POSTEE_CFG, else /etc/postee/cfg.yaml)")
	filters := fs.String("rego-filters", os.Getenv("REGO_FILTERS_PATH"), "Postee's rego-filters folder for relative input-files (default: $REGO_FILTERS_PATH, else rego-filters beside the config)")
	eventFile := fs.String("event", "", "event JSON file (- for standard input)")
	route := fs.String("route", "", "only this route (as POST /tenant/{route})")
	var expect []string
	fs.Func("expect", "fail (exit 1) unless route ROUTE matches; repeat for several", func(v string) error {
		expect = append(expect, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *eventFile == "" {
		return fmt.Errorf("--event is required")
	}
	raw, err := readInput(*eventFile)
	if err != nil {
		return err
	}
	ctx := context.Background()
	eng, err := controller.CompileIn(ctx, *cfgfile, *filters, nil)
	if err != nil {
		return err
	}
	defer eng.Close()
	ev, err := engine.ParseEvent(raw, "")
	if err != nil {
		return fmt.Errorf("%s: %w", *eventFile, err)
	}
	ms, err := eng.Evaluate(ctx, ev, *route)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		fmt.Fprintf(stdout, "no route matches %s\n", *eventFile)
	}
	for _, m := range ms {
		fmt.Fprintf(stdout, "route %q matches (template %q)\n", m.Route.Name, m.Route.Template)
		if m.Route.Aggregates() {
			fmt.Fprintln(stdout, "  held for aggregation (aggregate-message-number/-timeout): sent together with the other messages of this route")
		}
		fmt.Fprintf(stdout, "  title:  %s\n", m.Msg.Title)
		if m.Msg.URL != "" {
			fmt.Fprintf(stdout, "  url:    %s\n", m.Msg.URL)
		}
		fmt.Fprintf(stdout, "  result:\n%s\n", indent(m.Msg.Body, "    "))
		if len(m.Route.Steps) == 0 {
			fmt.Fprintln(stdout, "  actions: none enabled")
		}
		for _, s := range m.Route.Steps {
			fmt.Fprintf(stdout, "  action %q runs on %s\n", s.Action, placement(s.RunsOn, ev.Host))
			if body, ok := eng.Preview(m, s.Action); ok {
				fmt.Fprintf(stdout, "    sends:\n%s\n", indent(body, "      "))
			}
		}
		if m.Route.Serialize {
			fmt.Fprintln(stdout, "  actions run one after another (serialize-actions)")
		}
	}
	return expected(eng, ms, expect)
}

// expected fails unless every route in want matched.
func expected(eng *engine.Engine, ms []engine.Match, want []string) error {
	var missing []string
	for _, name := range want {
		if _, ok := eng.Route(name); !ok {
			return fmt.Errorf("--expect %s: no such route in the config", name)
		}
		if !slices.ContainsFunc(ms, func(m engine.Match) bool { return m.Route.Name == name }) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("expected route %s to match; it did not", strings.Join(missing, ", "))
	}
	return nil
}

func placement(runsOn, host string) string {
	switch runsOn {
	case "":
		return "the controller"
	case engine.Origin:
		if host == "" {
			return "the runner of the event's host (the event names no host: not run unless a runner reports it)"
		}
		return fmt.Sprintf("the runner on the event's host %q", host)
	}
	return fmt.Sprintf("runner %q", runsOn)
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

// runners prints the fleet view of a running controller.
func runners(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("posteed-controller runners", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "/etc/postee/controller.toml", "the controller's settings: its admin address is asked")
	url := fs.String("url", "", "the controller's admin address host:port or URL (default: admin in --config)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	base, err := adminURL(*url, *file, isSet(fs, "config"))
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(base + "/runners")
	if err != nil {
		return fmt.Errorf("ask the controller: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("controller answered %s", resp.Status)
	}
	var list []controller.RunnerInfo
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return fmt.Errorf("controller answer: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHOST\tVERSION\tCONFIG REV\tLAST HEARTBEAT\tSTATE\tPENDING WORK\tSPOOLED")
	for _, r := range list {
		state, seen := "never seen", "-"
		if !r.LastHeartbeat.IsZero() {
			seen = time.Since(r.LastHeartbeat).Round(time.Second).String() + " ago"
			state = "disconnected"
			if r.Connected {
				state = "connected"
			}
		}
		rev := fmt.Sprint(r.ConfigRevision)
		if !r.ConfigCurrent && r.ConfigRevision != 0 {
			rev += " (outdated)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", r.Name, dash(r.Host), dash(r.Version), rev, seen, state, r.PendingWork, r.Spooled)
	}
	return tw.Flush()
}

// adminURL is where the controller's admin listener answers: --url, or
// admin in controller.toml (its default when the file or key is missing,
// unless the file was named).
func adminURL(flagURL, file string, explicit bool) (string, error) {
	addr := flagURL
	if addr == "" {
		fs := flag.NewFlagSet("controller.toml", flag.ContinueOnError)
		s := controller.Flags(fs)
		if err := settings.Load(fs, file, !explicit); err != nil {
			return "", err
		}
		if s.Admin == "" {
			return "", fmt.Errorf("%s: the admin listener is off (admin = \"\"): set admin, or give --url", file)
		}
		addr = s.Admin
	}
	if strings.Contains(addr, "://") {
		return strings.TrimSuffix(addr, "/"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("admin address %q: %w", addr, err)
	}
	switch host { // a wildcard listener answers on loopback
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// nkey creates a user nkey seed file for a runner (its runner-seed-file)
// and prints the public key as the runner-nkeys entry of controller.toml.
func nkey(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("posteed-controller nkey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "seed file to create (mode 0600; refused if it exists)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 1 {
		return fmt.Errorf("usage: posteed-controller nkey --out FILE [RUNNER]")
	}
	name := "postee-runner-1"
	if fs.NArg() == 1 {
		name = fs.Arg(0)
		if err := transport.ValidName(name); err != nil {
			return err
		}
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return err
	}
	defer kp.Wipe()
	seed, err := kp.Seed()
	if err != nil {
		return err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(seed, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (keep it secret: the runner's runner-seed-file)\ncontroller.toml: runner-nkeys = { %q = %q }\n", *out, name, pub)
	return nil
}

// natsConfig creates the nkey seeds controller.toml names for a NATS
// cluster (when missing) and prints the fragment every server includes.
func natsConfig(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("posteed-controller nats-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	s := controller.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("usage: posteed-controller nats-config [--config controller.toml] > posteed-nats.conf")
	}
	if err := settings.Load(fs, s.ConfigFile, !isSet(fs, "config")); err != nil {
		return err
	}
	nc, err := controller.MakeNATSConfig(*s)
	if err != nil {
		return err
	}
	for _, f := range nc.Created {
		fmt.Fprintf(stderr, "wrote %s (mode 0600): copy it to every controller's /etc/postee/tls\n", f)
	}
	_, err = io.WriteString(stdout, nc.Fragment)
	return err
}
