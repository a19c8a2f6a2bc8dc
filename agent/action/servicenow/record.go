package servicenow

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

// record builds the table row. Postee's ServiceNow templates render a JSON
// object (summary, description, severity, date, category, …); those keys
// map onto incident fields. Any other body goes into the work notes.
func (s *ServiceNow) record(m action.Message) map[string]any {
	r := map[string]any{
		"short_description": cut(strings.Join(strings.Fields(m.Title), " "), 160),
		"caller_id":         s.cfg.User,
	}
	var in map[string]any
	if json.Unmarshal([]byte(m.Body), &in) != nil {
		r["work_notes"] = "[code]" + m.Body + "[/code]"
		r["description"] = m.Body
		return r
	}
	if d, ok := in["description"]; ok {
		r["work_notes"] = "[code]" + str(d) + "[/code]"
	}
	set(r, "description", in["summary"])
	set(r, "category", in["category"])
	set(r, "subcategory", in["subcategory"])
	set(r, "assigned_to", in["assignedTo"])
	set(r, "assignment_group", in["assignedGroup"])
	if sev, err := strconv.Atoi(str(in["severity"])); err == nil {
		r["impact"], r["urgency"] = sev, sev
	}
	if secs, err := strconv.ParseInt(str(in["date"]), 10, 64); err == nil {
		r["opened_at"] = time.Unix(secs, 0).UTC().Format(time.DateTime)
	}
	return r
}

func set(r map[string]any, k string, v any) {
	if v != nil && str(v) != "" {
		r[k] = str(v)
	}
}

func str(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// cut shortens s to at most n runes.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
