# Titles for the raw message templates: the event's own name when it has
# one (artifact, image, Tracee signature). Every raw message is titled, so
# this is one else chain of direct references, cheapest test first.
package postee.lib.raw

import data.postee.lib.tracee

title := input.ArtifactName if {
	input.ArtifactName != ""
	is_string(input.ArtifactName)
} else := input.image if {
	input.image != ""
	is_string(input.image)
} else := tracee.title if {
	is_object(input.SigMetadata)
} else := tracee.title if {
	is_string(input.metadata.Properties.signatureID)
} else := "Postee raw message"
