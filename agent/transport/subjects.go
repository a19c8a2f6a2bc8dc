// Package transport is the runner's side of the controller/runner channel:
// subject names, the envelope formats and the TLS NATS connection.
//
// Every subject a runner touches carries its name, so the controller's NATS
// server can grant each runner exactly its own subjects:
//
//	subscribe  posteed.cfg.<runner>                  config slice pushes
//	           _INBOX.<runner>.>                     replies (nats.CustomInboxPrefix)
//	publish    posteed.cfg.get.<runner>              ask for the current slice
//	           posteed.hb.<runner>                   heartbeat / status
//	           posteed.up.<runner>                   upstream events (JetStream POSTEED_UP)
//	           posteed.res.<runner>                  results of dispatched work
//	           $JS.API.CONSUMER.INFO.POSTEED_WORK.<runner>
//	           $JS.API.CONSUMER.MSG.NEXT.POSTEED_WORK.<runner>
//	           $JS.ACK.POSTEED_WORK.<runner>.*.*.*.*.*           acks of its own work
//	           $JS.ACK.*.*.POSTEED_WORK.<runner>.*.*.*.*.*(.>)   the same in the v2 ack format
//
// The ack grants are exact in length: the server reads a 9-token ack as
// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.… and an ack of 11 or more
// tokens as the v2 format, so a looser grant (….<runner>.>) would let a
// runner named 32 ack another runner's job at stream sequence 32 through
// $JS.ACK.POSTEED_WORK.<other>.POSTEED_WORK.32.….
//
// Permissions do not restrict a publish's reply subject, and the JetStream
// API answers there with the server's rights: a runner can make the server
// publish an API response onto any subject. Identity therefore never comes
// from the subject alone: every message a runner sends names its sender in
// the payload, and the controller drops any whose sender is not the
// subject's runner (see CheckSender); a job names its target runner and a
// runner terminates jobs addressed to another.
//
// PublishAllow and SubscribeAllow return exactly these lists; the embedded
// server grants them and denies everything else.
//
// The controller publishes work for a runner to posteed.work.<runner>, kept by
// the JetStream stream POSTEED_WORK and read through the durable pull consumer
// named <runner>.
package transport

import (
	"fmt"
	"regexp"
	"strings"
)

const (
	// WorkStream keeps dispatched work until the runner acks it.
	WorkStream = "POSTEED_WORK"
	// UpStream keeps events reported by runners until the controller handled them.
	UpStream = "POSTEED_UP"
	// ControllerUser is the reserved identity of the controller itself.
	ControllerUser = "posteed-controller"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

// ValidName reports whether name can be a runner name: it becomes a NATS
// subject token and a consumer name, so no dots, wildcards or spaces.
func ValidName(name string) error {
	if name == ControllerUser {
		return fmt.Errorf("runner name %q is reserved for the controller", name)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("runner name %q: use 1-63 letters, digits, '-' or '_', starting with a letter or digit", name)
	}
	return nil
}

// CfgPush is where the controller pushes runner's config slice.
func CfgPush(runner string) string { return "posteed.cfg." + runner }

// CfgGet is where runner asks for its current slice (request/reply).
func CfgGet(runner string) string { return "posteed.cfg.get." + runner }

// Heartbeat is where runner reports its status.
func Heartbeat(runner string) string { return "posteed.hb." + runner }

// Up is where runner reports the events it took in.
func Up(runner string) string { return "posteed.up." + runner }

// Result is where runner reports the outcome of dispatched work.
func Result(runner string) string { return "posteed.res." + runner }

// Work is where the controller queues work for runner.
func Work(runner string) string { return "posteed.work." + runner }

// InboxPrefix is runner's private reply prefix.
func InboxPrefix(runner string) string { return "_INBOX." + runner }

// Wildcards the controller subscribes to.
const (
	AllCfgGet    = "posteed.cfg.get.*"
	AllHeartbeat = "posteed.hb.*"
	AllUp        = "posteed.up.*"
	AllResults   = "posteed.res.*"
	AllWork      = "posteed.work.*"
)

// PublishAllow is everything runner may publish to.
func PublishAllow(runner string) []string {
	return []string{
		CfgGet(runner),
		Heartbeat(runner),
		Up(runner),
		Result(runner),
		"$JS.API.CONSUMER.INFO." + WorkStream + "." + runner,
		"$JS.API.CONSUMER.MSG.NEXT." + WorkStream + "." + runner,
		"$JS.ACK." + WorkStream + "." + runner + ".*.*.*.*.*",
		// nats-server 2.14 introduced $JS.ACK.<domain>.<account hash>.<stream>.<consumer>...
		// behind a feature flag that a later release turns on by default;
		// it has 11 tokens, or more when the server appends a random one.
		"$JS.ACK.*.*." + WorkStream + "." + runner + ".*.*.*.*.*",
		"$JS.ACK.*.*." + WorkStream + "." + runner + ".*.*.*.*.*.>",
	}
}

// SubscribeAllow is everything runner may subscribe to.
func SubscribeAllow(runner string) []string {
	return []string{CfgPush(runner), InboxPrefix(runner) + ".>"}
}

// ReplyAllowed reports whether the controller may answer a request from
// runner on reply. Permissions cannot restrict the reply subject a runner
// attaches, and the controller may publish anywhere, so without this check
// a runner could make the controller publish into another runner's subjects.
func ReplyAllowed(runner, reply string) bool {
	prefix := InboxPrefix(runner) + "."
	return ValidName(runner) == nil && len(reply) > len(prefix) && strings.HasPrefix(reply, prefix) &&
		!strings.ContainsAny(reply, "*> \t\r\n")
}
