package sd

import (
	"log/slog"
	"strings"
	"time"
)

// wellKnown attributes keep their field name inside any group, so
// `journalctl POSTEE_ROUTE=x` finds a route whichever component logged it.
var wellKnown = map[string]string{
	"route":           "POSTEE_ROUTE",
	"action":          "POSTEE_ACTION",
	"runner":          "POSTEE_RUNNER",
	"event_id":        "POSTEE_EVENT_ID",
	"config_revision": "POSTEE_CONFIG_REVISION",
	"error":           "POSTEE_ERROR", // logx.ErrorKey: journalctl POSTEE_ERROR= finds every error
}

// maxFieldName is journald's limit; longer names are dropped by journald.
const maxFieldName = 64

// flatten emits one field per leaf of a, with groups joined by "_". Per the
// slog.Handler rules, an empty-keyed group is inlined and any other empty
// key is dropped.
func flatten(groups []string, a slog.Attr, emit func(name, value string)) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		if a.Key != "" {
			groups = append(groups[:len(groups):len(groups)], a.Key)
		}
		for _, ga := range v.Group() {
			flatten(groups, ga, emit)
		}
		return
	}
	if a.Key == "" {
		return
	}
	emit(fieldName(groups, a.Key), valueString(v))
}

// fieldName maps an attribute to a journal field: POSTEE_ then the group
// path and key, upper-cased, with every byte journald forbids replaced by _.
func fieldName(groups []string, key string) string {
	if name, ok := wellKnown[key]; ok {
		return name
	}
	var b strings.Builder
	b.WriteString("POSTEE")
	for _, part := range groups {
		b.WriteByte('_')
		writeFieldPart(&b, part)
	}
	b.WriteByte('_')
	writeFieldPart(&b, key)
	name := b.String()
	if len(name) > maxFieldName {
		name = name[:maxFieldName]
	}
	return name
}

func writeFieldPart(b *strings.Builder, s string) {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
}

func valueString(v slog.Value) string {
	switch v.Kind() {
	case slog.KindTime:
		return v.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return err.Error()
		}
	}
	return v.String()
}
