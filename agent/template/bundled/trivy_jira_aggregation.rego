package postee.trivy.jira.aggregation

import data.postee.lib.aggregate

# Only an array of messages is aggregated; the test also keeps the engine
# from doing work here when it evaluates the parent template package.

default title := "Vulnerability scan reports"

title := aggregate.title("Vulnerability scan reports") if is_array(input)

default result := ""

result := aggregate.jira if is_array(input)
