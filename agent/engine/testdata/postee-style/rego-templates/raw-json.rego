package postee.rawmessage.json

title := "raw event"

result := jsonformat(input)
