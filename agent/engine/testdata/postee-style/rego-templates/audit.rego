package mine.audit.json

title := "Audit event"

result := {
	"who": input.user,
	"what": input.action,
	"details": {"count": input.count, "ok": input.ok},
}
