// Package transport is the runner's side of the controller/runner channel:
// subject names, the envelope formats and the TLS NATS connection.
//
// Every subject a runner touches carries its name, so the NATS servers can
// grant each runner exactly its own subjects:
//
//	subscribe  $KV.posteed_slices.<runner>               its config slice, as the controller stores it
//	           _INBOX.<runner>.>                         replies (nats.CustomInboxPrefix)
//	publish    posteed.js.API.DIRECT.GET.KV_posteed_slices.$KV.posteed_slices.<runner>
//	                                                     read its current slice (no controller needed)
//	           posteed.cfg.get.<runner>                  ask the controller for its slice
//	           posteed.hb.<runner>                       heartbeat / status
//	           posteed.up.<runner>                       upstream events (JetStream POSTEED_UP)
//	           posteed.res.<runner>                      results of dispatched work
//	           posteed.js.API.CONSUMER.INFO.POSTEED_WORK.<runner>
//	           posteed.js.API.CONSUMER.MSG.NEXT.POSTEED_WORK.<runner>
//	                                                     its work queue (the JetStream API, see JSAPIPrefix)
//	           $JS.ACK.POSTEED_WORK.<runner>.*.*.*.*.*           acks of its own work
//	           $JS.ACK.*.*.POSTEED_WORK.<runner>.*.*.*.*.*(.>)   the same in the v2 ack format
//
// The ack grants are exact in length: the server reads a 9-token ack as
// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.… and an ack of 11 or more
// tokens as the v2 format, so a looser grant (….<runner>.>) would let a
// runner named 32 ack another runner's job at stream sequence 32 through
// $JS.ACK.POSTEED_WORK.<other>.POSTEED_WORK.32.….
//
// Runners live in their own NATS account (RUNNERS), the controllers and all
// of JetStream in another (POSTEED); the subjects above are the only ones
// the fleet's account exports to the runners' (see controller/natsd).
// Permissions do not restrict a publish's reply subject, and the JetStream
// API answers there with the server's rights: a runner can make the server
// publish an API response onto any subject of its own account, so onto the
// subjects above of another runner, but never onto the fleet's internal
// streams and buckets, which its account does not reach. Identity
// therefore never comes from the subject alone: every message a runner
// sends names its sender in the payload, and the controller drops any whose
// sender is not the subject's runner (see Decode); a job names its target
// runner, a slice its runner, and a runner ignores what is not its own.
//
// PublishAllow and SubscribeAllow return exactly these lists; the servers
// grant them and deny everything else.
//
// The controller publishes work for a runner to posteed.work.<runner>, kept by
// the JetStream stream POSTEED_WORK and read through the durable pull consumer
// named <runner>.
package transport

import (
	"fmt"
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

// ValidName reports whether name can be a runner name: it becomes a NATS
// subject token and a consumer name, so no dots, wildcards or spaces.
func ValidName(name string) error {
	if name == ControllerUser {
		return fmt.Errorf("runner name %q is reserved for the controller", name)
	}
	if !nameShaped(name) {
		return fmt.Errorf("runner name %q: use 1-63 letters, digits, '-' or '_', starting with a letter or digit", name)
	}
	return nil
}

// nameShaped is ^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$ without a regexp (whose
// compiled form of the repetition was 60 KB kept by every daemon).
func nameShaped(name string) bool {
	if len(name) == 0 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_') {
			return false
		}
	}
	return true
}

// SliceBucket is the JetStream key-value bucket of the config slices, one
// key per runner: a runner reads its own key and follows its subject.
const SliceBucket = "posteed_slices"

// CfgPush is the subject of runner's key in SliceBucket: every slice the
// controller stores for runner is published there too.
func CfgPush(runner string) string { return "$KV." + SliceBucket + "." + runner }

// JSAPIPrefix is where a runner finds the JetStream API: the fleet's
// account exports the few calls a runner makes ($JS.API.…) and the runners'
// account imports them under this prefix (see controller/natsd).
const JSAPIPrefix = "posteed.js.API"

// SliceGet is the JetStream direct-get API subject that answers runner's
// current slice (the last message on CfgPush(runner)), with no controller
// up.
func SliceGet(runner string) string {
	return JSAPIPrefix + ".DIRECT.GET.KV_" + SliceBucket + "." + CfgPush(runner)
}

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
		SliceGet(runner),
		Heartbeat(runner),
		Up(runner),
		Result(runner),
		JSAPIPrefix + ".CONSUMER.INFO." + WorkStream + "." + runner,
		JSAPIPrefix + ".CONSUMER.MSG.NEXT." + WorkStream + "." + runner,
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

// ReplyAllowed reports whether the controller may answer a runner's request
// on reply. A runner's request reaches the fleet's account only through a
// service import, and the server gives it a response subject (_R_.…) that
// routes the answer back to the reply the runner chose, in the runners'
// account: never into the fleet's own subjects, whatever the runner wrote.
// Any other reply did not come through the import, and is not answered.
func ReplyAllowed(reply string) bool {
	return strings.HasPrefix(reply, "_R_.") && len(reply) > len("_R_.") && !strings.ContainsAny(reply, "*> \t\r\n")
}
