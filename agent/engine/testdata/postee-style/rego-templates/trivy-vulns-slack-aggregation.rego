# Several Trivy Slack messages as one: each report's blocks under its title.
package postee.vuls.slack.trivy.aggregation

import data.postee.flat_array

title := "Trivy scan reports"

url := concat("\n", [u | u := input[_].url; u != ""])

result := flat_array([array.concat([{"type": "section", "text": {"type": "mrkdwn", "text": input[i].title}}], blocks) |
	blocks := input[i].description
])
