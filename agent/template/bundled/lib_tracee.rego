# A Tracee finding in one shape, whether Tracee wrote it in the legacy shape
# (SigMetadata, Context) or the current one (metadata.Properties, context
# fields at the top level). The tracee.* templates render from here.
#
# This runs for every Tracee event. In OPA each rule evaluated costs several
# times a builtin call, so the finding is read in a few rules: sig, props
# and ctx make every lookup total, and title and fields read the event with
# object.get into locals; the small functions below hold the conditionals.
package postee.lib.tracee

is_tracee := true if {
	is_object(input.SigMetadata)
} else := true if {
	is_string(input.metadata.Properties.signatureID)
}

# sig, props and ctx are objects whatever the event holds, so that every
# object.get below is defined.
sig := input.SigMetadata if is_object(input.SigMetadata) else := {}

props := p if {
	p := input.metadata.Properties
	is_object(p)
} else := p if {
	p := sig.Properties
	is_object(p)
} else := {}

# ctx holds the process and host fields: under Context in the legacy shape,
# at the top level in the current one.
ctx := input.Context if {
	is_object(input.Context)
} else := input if {
	is_object(input)
} else := {}

host := object.get(ctx, "hostName", "")

description := object.get(input.metadata, "Description", object.get(sig, "Description", "")) if {
	is_object(input.metadata)
} else := object.get(sig, "Description", "")

title := t if {
	# The fast path: sig, props and ctx are objects read with builtins
	# alone; an event where any of them is odd takes the else.
	sig := object.get(input, "SigMetadata", {})
	props := object.get(object.get(input, "metadata", {}), "Properties", object.get(sig, "Properties", {}))
	ctx := object.get(input, "Context", input)
	is_object(props)
	is_object(ctx)
	t := heading(
		object.get(props, "signatureID", object.get(sig, "ID", "")),
		object.get(props, "signatureName", object.get(sig, "Name", "")),
		object.get(ctx, "hostName", ""),
	)
} else := heading(
	object.get(props, "signatureID", object.get(sig, "ID", "")),
	object.get(props, "signatureName", object.get(sig, "Name", "")),
	host,
)

# The common case, every part present, is one sprintf.
heading(id, name, on) := sprintf("Tracee detection %v %v on %v", [id, name, on]) if {
	not id in {"", null}
	not name in {"", null}
	not on in {"", null}
} else := concat(" ", [sprintf("%v", [p]) |
	some p in ["Tracee detection", id, name, on_host(on)]
	not p in {"", null}
])

on_host(h) := "" if h in {"", null} else := sprintf("on %v", [h])

# finding is what the templates show: title, description and fields, the
# label/value pairs worth showing in reading order (values as the event has
# them, for the templates to print with %v). The fast path reads an event
# of either usual shape with builtins alone, as rule and function calls
# cost OPA several times more; an odd event takes the else, the same logic
# spelled with helpers.
finding := {"title": title, "description": d, "fields": [f | some f in all; not f[1] in {"", null}]} if {
	sig := object.get(input, "SigMetadata", {})
	meta := object.get(input, "metadata", {})
	props := object.get(meta, "Properties", object.get(sig, "Properties", {}))
	ctx := object.get(input, "Context", input)
	is_object(props)
	is_object(ctx)
	k := object.get(input, "kubernetes", {})
	pod_name := object.get(k, "podName", "")
	ts := object.get(ctx, "timestamp", null)
	is_number(ts)
	trigger := fast_trigger(sig, ctx)
	d := object.get(meta, "Description", object.get(sig, "Description", ""))
	proc := object.get(ctx, "processName", "")
	pid := object.get(ctx, "processId", "")
	technique := object.get(props, "Technique", "")
	ext := object.get(props, "external_id", "")
	image := object.get(input, ["container", "image"], object.get(ctx, "containerImage", ""))
	cid := object.get(input, ["container", "id"], object.get(ctx, "containerId", ""))
	sev := object.get(props, "Severity", "")
	all := [
		["Severity", object.get(severity_texts, sev, sev)],
		["Host", object.get(ctx, "hostName", "")],
		["Process", object.get({"": proc, null: proc}, pid, sprintf("%v (pid %v)", [proc, pid]))],
		["Container", object.get({"": cid, null: cid}, image, object.get({"": image, null: image}, cid, sprintf("%v (%v)", [image, cid])))],
		["Pod", object.get({"": "", null: ""}, pod_name, sprintf("%v/%v", [object.get(k, "podNamespace", ""), pod_name]))],
		["Event", object.get(input, "eventName", object.get(sig, "EventName", ""))],
		["Triggered by", trigger],
		["MITRE ATT&CK", object.get(props, "MITRE ATT&CK", "")],
		["Technique", object.get({"": technique, null: technique}, ext, sprintf("%v (%v)", [technique, ext]))],
		["Category", object.get(props, "Category", "")],
		["Time", time.format(ts)],
	]
} else := {"title": title, "description": description, "fields": fields}

# fast_trigger is triggered_by for an event whose sig and ctx are objects.
fast_trigger(sig, ctx) := ctx.eventName if {
	sig != {}
} else := object.get(a, ["value", "name"], "") if {
	some a in input.args
	a.name == "triggeredBy"
} else := ""

fields := [f |
	some f in [
		["Severity", severity(object.get(props, "Severity", ""))],
		["Host", host],
		["Process", with_extra("%v (pid %v)", object.get(ctx, "processName", ""), object.get(ctx, "processId", ""))],
		["Container", container(
			object.get(input, ["container", "image"], object.get(ctx, "containerImage", "")),
			object.get(input, ["container", "id"], object.get(ctx, "containerId", "")),
		)],
		["Pod", pod(object.get(input, "kubernetes", {}))],
		["Event", object.get(input, "eventName", object.get(sig, "EventName", ""))],
		["Triggered by", triggered_by],
		["MITRE ATT&CK", object.get(props, "MITRE ATT&CK", "")],
		["Technique", with_extra("%v (%v)", object.get(props, "Technique", ""), object.get(props, "external_id", ""))],
		["Category", object.get(props, "Category", "")],
		["Time", time_text(object.get(ctx, "timestamp", null))],
	]
	not f[1] in {"", null}
]

# The words carry the number already: a lookup instead of a sprintf.
severity_texts := {0: "info (0)", 1: "low (1)", 2: "medium (2)", 3: "high (3)", 4: "critical (4)"}

severity(s) := object.get(severity_texts, s, s)

# with_extra adds extra to base through format, when there is one.
with_extra(format, base, extra) := sprintf(format, [base, extra]) if {
	not extra in {"", null}
} else := base

container(image, id) := sprintf("%v (%v)", [image, id]) if {
	not id in {"", null}
	not image in {"", null}
} else := image if {
	not image in {"", null}
} else := id

pod(k) := sprintf("%v/%v", [object.get(k, "podNamespace", ""), k.podName]) if {
	not k.podName in {"", null}
} else := ""

# The system call or event that set the signature off.
triggered_by := ctx.eventName if {
	sig != {}
} else := object.get(a, ["value", "name"], "") if {
	some a in input.args
	a.name == "triggeredBy"
} else := ""

time_text(ts) := time.format(ts) if {
	is_number(ts)
} else := ""
