package natsd

import (
	"fmt"
	"strings"

	"github.com/postee-fleet/posteed/agent/transport"
)

// The fleet's NATS layout, the same on the embedded server and on an
// existing cluster: two accounts. POSTEED holds the controllers and all of
// JetStream (work queues, runner events, config slices, the fleet's state);
// RUNNERS holds every runner and reaches POSTEED only through the subjects
// below, which POSTEED exports and RUNNERS imports under the same names.
// A runner's own permissions then narrow each to its name
// (transport.PublishAllow, SubscribeAllow).
//
// The split is what keeps a runner's reflection out of the fleet's state:
// a JetStream API call's response goes to the reply subject the caller
// chose, with the server's rights, and a runner chooses any subject of its
// own account, but the internal streams and buckets live in POSTEED and
// RUNNERS imports none of their subjects.
const (
	AccountFleet   = "POSTEED"
	AccountRunners = "RUNNERS"
)

// A service POSTEED exports to RUNNERS.
type service struct {
	subject string
	stream  bool // answered with several messages (a pull request)
}

// runnerServices are the subjects a runner publishes (or requests) in the
// fleet's account. The JetStream API ones reach RUNNERS under
// transport.JSAPIPrefix instead of $JS.API: the server answers $JS.API in
// every account itself ("JetStream not enabled for account" in RUNNERS).
var runnerServices = []service{
	{subject: "posteed.hb.*"},
	{subject: "posteed.res.*"},
	{subject: "posteed.cfg.get.*"},
	{subject: transport.AllUp}, // a JetStream publish: its ack is the response
	{subject: "$JS.API.CONSUMER.INFO." + transport.WorkStream + ".*"},
	{subject: "$JS.API.CONSUMER.MSG.NEXT." + transport.WorkStream + ".*", stream: true},
	{subject: "$JS.ACK.>"}, // acks of the jobs it got (v1 and v2 formats)
	{subject: "$JS.API.DIRECT.GET.KV_" + transport.SliceBucket + ".>"},
}

// in is the subject a runner uses for the service.
func (s service) in() string {
	if rest, ok := strings.CutPrefix(s.subject, "$JS.API."); ok {
		return transport.JSAPIPrefix + "." + rest
	}
	return s.subject
}

// runnerStreams are what a runner receives from the fleet's account: the
// config slices as they are stored.
var runnerStreams = []string{"$KV." + transport.SliceBucket + ".*"}

// AccountsConf is the accounts block of a server config: POSTEED (with
// JetStream, and fleetUsers, e.g. `{nkey: "U..."}`) and RUNNERS.
func AccountsConf(fleetUsers ...string) string {
	var b strings.Builder
	b.WriteString("accounts {\n")
	fmt.Fprintf(&b, "  %s {\n    jetstream: enabled\n", AccountFleet)
	if len(fleetUsers) > 0 {
		fmt.Fprintf(&b, "    users: [ %s ]\n", strings.Join(fleetUsers, ", "))
	}
	b.WriteString("    exports: [\n")
	for _, s := range runnerServices {
		if s.stream {
			fmt.Fprintf(&b, "      { service: %q, response: stream, accounts: [%s] }\n", s.subject, AccountRunners)
		} else {
			fmt.Fprintf(&b, "      { service: %q, accounts: [%s] }\n", s.subject, AccountRunners)
		}
	}
	for _, s := range runnerStreams {
		fmt.Fprintf(&b, "      { stream: %q, accounts: [%s] }\n", s, AccountRunners)
	}
	b.WriteString("    ]\n  }\n")
	fmt.Fprintf(&b, "  %s {\n    jetstream: disabled\n    imports: [\n", AccountRunners)
	for _, s := range runnerServices {
		if s.in() == s.subject {
			fmt.Fprintf(&b, "      { service: { account: %s, subject: %q } }\n", AccountFleet, s.subject)
		} else {
			fmt.Fprintf(&b, "      { service: { account: %s, subject: %q }, to: %q }\n", AccountFleet, s.subject, s.in())
		}
	}
	for _, s := range runnerStreams {
		fmt.Fprintf(&b, "      { stream: { account: %s, subject: %q } }\n", AccountFleet, s)
	}
	b.WriteString("    ]\n  }\n}\n")
	return b.String()
}
