package opsgenie

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
)

// Opsgenie's field limits.
const (
	maxMessage     = 130
	maxDescription = 15000
)

// alert builds the create-alert request. As in Postee, a body that is a
// JSON object may set description, alias, entity, priority and extra tags;
// any other body is the description.
func (o *Opsgenie) alert(m action.Message) map[string]any {
	c := o.cfg
	desc, alias, entity, priority, tags := m.Body, c.Alias, c.Entity, c.Priority, c.Tags
	var over map[string]any
	if json.Unmarshal([]byte(m.Body), &over) == nil {
		desc = text(over["description"], "")
		alias = text(over["alias"], alias)
		entity = text(over["entity"], entity)
		priority = text(over["priority"], priority)
		tags = append(append([]string(nil), tags...), tagList(over["tags"])...)
	}
	message := strings.Join(strings.Fields(m.Title), " ")
	if message == "" {
		message = "Postee alert"
	}
	a := map[string]any{
		"message":     cut(message, maxMessage),
		"description": cut(desc, maxDescription),
		"priority":    priority,
		"source":      "postee",
	}
	setIf(a, "alias", alias)
	setIf(a, "entity", entity)
	setIf(a, "user", c.User)
	if len(tags) > 0 {
		a["tags"] = tags
	}
	if len(c.Assignee) > 0 {
		a["responders"] = users(c.Assignee)
	}
	if len(c.Recipients) > 0 {
		a["visibleTo"] = users(c.Recipients)
	}
	if m.URL != "" {
		a["details"] = map[string]string{"url": m.URL}
	}
	return a
}

func users(names []string) []map[string]string {
	out := make([]map[string]string, len(names))
	for i, n := range names {
		out[i] = map[string]string{"type": "user", "username": n}
	}
	return out
}

func text(v any, dflt string) string {
	if v == nil {
		return dflt
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func tagList(v any) []string {
	switch t := v.(type) {
	case string:
		return strings.Split(t, ",")
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

func setIf(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// cut shortens s to at most n runes.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
