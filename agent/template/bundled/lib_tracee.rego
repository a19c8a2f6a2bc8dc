# A Tracee finding in one shape, whether Tracee wrote it in the legacy shape
# (SigMetadata, Context) or the current one (metadata.Properties, context
# fields at the top level). The tracee.* templates render from here.
#
# This runs for every Tracee event, so it is written for few evaluation
# steps: one object.get a field, no helper functions, each rule computed
# once per event.
package postee.lib.tracee

is_tracee if is_object(input.SigMetadata)

is_tracee if is_string(input.metadata.Properties.signatureID)

# sig, props and ctx are objects whatever the event holds, so that every
# object.get below is defined.
sig := input.SigMetadata if is_object(input.SigMetadata) else := {}

props := input.metadata.Properties if {
	is_object(input.metadata.Properties)
} else := sig.Properties if {
	is_object(sig.Properties)
} else := {}

# ctx holds the process and host fields: under Context in the legacy shape,
# at the top level in the current one.
ctx := input.Context if {
	is_object(input.Context)
} else := input if {
	is_object(input)
} else := {}

id := object.get(props, "signatureID", object.get(sig, "ID", ""))

name := object.get(props, "signatureName", object.get(sig, "Name", ""))

description := object.get(input.metadata, "Description", object.get(sig, "Description", "")) if {
	is_object(input.metadata)
} else := object.get(sig, "Description", "")

host := object.get(ctx, "hostName", "")

# The common case, every part present, is one sprintf.
title := sprintf("Tracee detection %v %v on %v", [id, name, host]) if {
	not id in {"", null}
	not name in {"", null}
	not host in {"", null}
} else := concat(" ", [sprintf("%v", [p]) |
	some p in ["Tracee detection", id, name, on_host]
	not p in {"", null}
])

on_host := "" if host in {"", null} else := sprintf("on %v", [host])

severity_words := {0: "info", 1: "low", 2: "medium", 3: "high", 4: "critical"}

severity := sprintf("%s (%d)", [severity_words[props.Severity], props.Severity]) if {
	severity_words[props.Severity]
} else := object.get(props, "Severity", "")

technique := sprintf("%v (%v)", [object.get(props, "Technique", ""), props.external_id]) if {
	not props.external_id in {"", null}
} else := object.get(props, "Technique", "")

process := sprintf("%v (pid %v)", [object.get(ctx, "processName", ""), ctx.processId]) if {
	not ctx.processId in {"", null}
} else := object.get(ctx, "processName", "")

container := sprintf("%v (%v)", [image, cid]) if {
	cid := object.get(input, ["container", "id"], object.get(ctx, "containerId", ""))
	image := object.get(input, ["container", "image"], object.get(ctx, "containerImage", ""))
	not cid in {"", null}
	not image in {"", null}
} else := object.get(input, ["container", "image"], object.get(ctx, "containerImage", object.get(ctx, "containerId", "")))

pod := sprintf("%v/%v", [object.get(input, ["kubernetes", "podNamespace"], ""), input.kubernetes.podName]) if {
	not input.kubernetes.podName in {"", null}
} else := ""

# The system call or event that set the signature off.
triggered_by := ctx.eventName if {
	sig != {}
} else := [object.get(a, ["value", "name"], "") | some a in input.args; a.name == "triggeredBy"][0] if {
	some a in input.args
	a.name == "triggeredBy"
} else := ""

timestamp := time.format(ctx.timestamp) if {
	is_number(ctx.timestamp)
} else := ""

# fields are the label/value pairs worth showing, in reading order; values
# are as the event has them, for the templates to print with %v.
fields := [f |
	some f in [
		["Severity", severity],
		["Host", host],
		["Process", process],
		["Container", container],
		["Pod", pod],
		["Event", object.get(input, "eventName", object.get(sig, "EventName", ""))],
		["Triggered by", triggered_by],
		["MITRE ATT&CK", object.get(props, "MITRE ATT&CK", "")],
		["Technique", technique],
		["Category", object.get(props, "Category", "")],
		["Time", timestamp],
	]
	not f[1] in {"", null}
]
