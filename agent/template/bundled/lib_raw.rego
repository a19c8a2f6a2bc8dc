# Titles for the raw message templates: the event's own name when it has
# one (artifact, image, Tracee signature).
package postee.lib.raw

import data.postee.lib.tracee

title := input.ArtifactName if {
	is_string(input.ArtifactName)
	input.ArtifactName != ""
} else := input.image if {
	is_string(input.image)
	input.image != ""
} else := tracee.title if {
	tracee.is_tracee
} else := "Postee raw message"
