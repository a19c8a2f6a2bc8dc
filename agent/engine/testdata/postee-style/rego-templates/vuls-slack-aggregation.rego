package postee.vuls.slack.aggregation

import data.postee.flat_array

title := "Vulnerability scan reports"

result := r {
	scans := [blocks |
		item := input[i].description
		blocks := array.concat([{"type": "section", "text": {"type": "mrkdwn", "text": input[i].title}}], item)
	]
	r := flat_array(scans)
}
