package config

import ()

// Warnings are problems that leave the config working: keys Postee reads
// that posteed has no use for, and incomplete templates or actions that no
// route uses (Postee loads those too; its own default cfg.yaml has some).
// They carry file, line and key like errors. Config.Warnings holds those
// the parser finds; the engine adds the ones it finds building actions
// and templates (engine.Engine.Warnings).

// notUsed is the message of a warning for an accepted key.
func notUsed(why string) string {
	if why == "" {
		why = "Postee reads every action key on every action type; this type does not use it"
	}
	return "accepted for Postee compatibility, not used: " + why
}

// posteeTopKeys are Postee instance settings with no meaning here.
var posteeTopKeys = map[string]string{
	"max-db-size":        "Postee's database limit; posteed keeps state in JetStream and its state directory, bounded by controller.toml",
	"db-verify-interval": "Postee's database clean-up interval; posteed has no such database",
	"delete-old-data":    "Postee's database clean-up; posteed has no such database",
	// Older Postee spellings of the same settings.
	"deleteold":        "older spelling of Postee's delete-old-data",
	"dbverifyinterval": "older spelling of Postee's db-verify-interval",
}

// posteePluginKeys are route plugin keys Postee accepts and overwrites from
// the *-timeout keys, so setting them never had an effect.
var posteePluginKeys = map[string]string{
	"aggregate-timeout-seconds":      "Postee computes it from aggregate-message-timeout and ignores a given value",
	"unique-message-timeout-seconds": "Postee computes it from unique-message-timeout and ignores a given value",
}

// posteeActionKeys are every key of Postee's one action settings struct:
// Postee decodes every action into it, so any of them is accepted on any
// action type, and ignored where the type has no use for it. Keys an action
// type here declares itself are decoded by it; the rest are these warnings.
var posteeActionKeys = map[string]string{
	"url": "", "user": "", "password": "", "tls-verify": "", "project-key": "", "issuetype": "",
	"board": "", "priority": "", "assignee": "", "summary": "", "fix-versions": "", "affects-versions": "",
	"labels": "", "sprint": "", "unknowns": "", "host": "", "port": "", "recipients": "", "sender": "",
	"token": "", "client-host-name": "", "use-mx": "", "instance": "", "size-limit": "", "input-file": "",
	"exec-script": "", "env": "", "body-file": "", "body-content": "", "method": "", "timeout": "",
	"headers": "", "organization-id": "", "kube-config-file": "", "kube-label-selector": "",
	"kube-actions": "", "kube-namespace": "", "docker-image-name": "", "docker-network": "",
	"docker-cmd": "", "docker-volume-mounts": "", "docker-env": "", "tags": "", "alias": "", "entity": "",
	"pagerduty-auth-token": "", "pagerduty-routing-key": "", "dependency-track-api-key": "",
}

// posteeTypeKeys explain keys that Postee's action of the same type used and
// ours does not.
var posteeTypeKeys = map[string]map[string]string{
	"splunk": {"tls-verify": "Postee's splunk turned TLS verification off when it was true; here verification stays on"},
	"jira": {
		"board":  "Postee's jira put issues into the board's active sprint; here they go to the project's backlog",
		"sprint": "Postee's jira put issues into the board's active sprint; here they go to the project's backlog",
	},
	"pagerduty": {"pagerduty-auth-token": "Postee's pagerduty required this REST API token; events are sent with pagerduty-routing-key alone (Events API v2)"},
}

// actionForeign is the foreign-key table for an action of type typ.
func actionForeign(typ string) map[string]string {
	special := posteeTypeKeys[typ]
	if special == nil {
		return posteeActionKeys
	}
	out := make(map[string]string, len(posteeActionKeys))
	for k, v := range posteeActionKeys {
		out[k] = v
	}
	for k, v := range special {
		out[k] = v
	}
	return out
}

// unusedSuffix marks a problem reported as a warning because nothing uses
// the item.
func unusedSuffix(what string) string {
	return " (a warning: no route uses this " + what + ")"
}

// AsUnused turns the problems of an item no route uses into warnings.
func AsUnused(errs Errors, what string) Errors {
	out := make(Errors, len(errs))
	for i, e := range errs {
		w := *e
		w.Msg += unusedSuffix(what)
		out[i] = &w
	}
	return out
}
