package postee.trivyoperator.dependencytrack

title := sprintf("%s:%s", [input.report.artifact.repository, input.report.artifact.tag])

result := input.report.components
