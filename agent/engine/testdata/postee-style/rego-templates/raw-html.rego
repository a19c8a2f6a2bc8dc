package postee.rawmessage.html

title := "Raw event"

result := sprintf("<pre>%s</pre>", [jsonformat(input)])
