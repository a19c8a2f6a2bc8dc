# The event as pretty-printed JSON inside an HTML <pre>, escaped.
package postee.rawmessage.html

import data.postee.lib.raw
import data.postee.lib.text

default title := "Postee raw message"

title := raw.title

default result := "<pre>null</pre>"

result := sprintf("<pre>%s</pre>", [text.html_text(json.marshal_with_options(input, {"pretty": true, "indent": "  "}))])
