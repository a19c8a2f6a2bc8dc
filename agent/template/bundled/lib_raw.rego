# Titles for the raw message templates: the event's own name when it has
# one (artifact, image, Tracee signature).
package postee.lib.raw

import data.postee.lib.text
import data.postee.lib.tracee

title := t if {
	t := text.first([text.get(input, "ArtifactName"), text.get(input, "image")])
	t != "none"
} else := tracee.title if {
	tracee.is_tracee
} else := "Postee raw message"
