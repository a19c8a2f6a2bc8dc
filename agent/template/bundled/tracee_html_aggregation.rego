package postee.tracee.html.aggregation

import data.postee.lib.aggregate

# Only an array of messages is aggregated; the test also keeps the engine
# from doing work here when it evaluates the parent template package.

default title := "Tracee detections"

title := aggregate.title("Tracee detections") if is_array(input)

default result := ""

result := aggregate.html if is_array(input)
