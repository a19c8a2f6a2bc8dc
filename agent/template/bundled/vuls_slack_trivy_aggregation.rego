# Postee's name for its Trivy Slack aggregation (its trivy.jira template also
# points here); kept so configurations and templates that name it still work.
package postee.vuls.slack.trivy.aggregation

import data.postee.lib.aggregate

# Only an array of messages is aggregated; the test also keeps the engine
# from doing work here when it evaluates the parent template package.

default title := "Vulnerability scan reports"

title := aggregate.title("Vulnerability scan reports") if is_array(input)

default result := []

result := aggregate.slack if is_array(input)
