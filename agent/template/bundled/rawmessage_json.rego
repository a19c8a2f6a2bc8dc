# The event as it came, re-encoded as JSON text (webhook, exec, stdout).
package postee.rawmessage.json

import data.postee.lib.raw

default title := "Postee raw message"

title := raw.title

default result := "null"

result := json.marshal(input)
