package postee.tracee.html

title := sprintf("Tracee detection: %s", [input.SigMetadata.Name])

result := sprintf("<p><b>Description:</b> %s</p>\n<p><b>Process:</b> %s (pid %v)</p>\n<p><b>Severity:</b> %v</p>\n<p><b>MITRE:</b> %v</p>", [
	input.SigMetadata.Description,
	input.Context.processName,
	input.Context.processId,
	input.SigMetadata.Properties.Severity,
	input.SigMetadata.Properties,
])
