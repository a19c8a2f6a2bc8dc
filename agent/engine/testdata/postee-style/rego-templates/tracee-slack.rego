package postee.tracee.slack

title := sprintf("Tracee detection: %s", [input.SigMetadata.Name])

result := res {
	res := [
		{"type": "section", "text": {"type": "mrkdwn", "text": sprintf("*Description:* %s", [input.SigMetadata.Description])}},
		{"type": "section", "text": {"type": "mrkdwn", "text": sprintf("*Process:* %s", [input.Context.processName])}},
		{"type": "section", "text": {"type": "mrkdwn", "text": sprintf("*Properties:* %v", [input.SigMetadata.Properties])}},
	]
}
