package jira

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
)

var errNoUser = errors.New("no such user")

// field is one entry of GET /rest/api/2/field.
type field struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Schema struct {
		Type  string `json:"type"`
		Items string `json:"items"`
	} `json:"schema"`
}

// addUnknowns adds the `unknowns` custom fields, named as in the Jira UI
// (or by id), each converted to the shape its schema asks for.
func (j *Jira) addUnknowns(ctx context.Context, f map[string]any) (bool, error) {
	if len(j.cfg.Unknowns) == 0 {
		return false, nil
	}
	byName, retry, err := j.fieldList(ctx)
	if err != nil {
		return retry, fmt.Errorf("list fields: %w", err)
	}
	for name, value := range j.cfg.Unknowns {
		fd, ok := byName[strings.ToLower(name)]
		if !ok {
			return false, fmt.Errorf("unknowns: Jira has no field named %q: %w", name, action.ErrPermanent)
		}
		v, err := j.convert(ctx, fd, value)
		if err != nil {
			return false, fmt.Errorf("unknowns: field %q: %w", name, err)
		}
		f[fd.ID] = v
	}
	return false, nil
}

// fieldList fetches the site's fields once and keeps them.
func (j *Jira) fieldList(ctx context.Context) (map[string]field, bool, error) {
	j.mu.Lock()
	cached := j.fields
	j.mu.Unlock()
	if cached != nil {
		return cached, false, nil
	}
	var list []field
	if retry, err := j.call(ctx, http.MethodGet, "/rest/api/2/field", nil, &list); err != nil {
		return nil, retry, err
	}
	byName := make(map[string]field, 2*len(list))
	for _, fd := range list {
		byName[strings.ToLower(fd.ID)] = fd
		byName[strings.ToLower(fd.Name)] = fd
	}
	j.mu.Lock()
	j.fields = byName
	j.mu.Unlock()
	return byName, false, nil
}

func (j *Jira) convert(ctx context.Context, fd field, value string) (any, error) {
	switch fd.Schema.Type {
	case "number":
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number: %w", value, action.ErrPermanent)
		}
		return n, nil
	case "array":
		return arrayValue(fd.Schema.Items, value), nil
	case "option":
		return map[string]string{"value": value}, nil
	case "priority", "issuetype", "version", "component":
		return map[string]string{"name": value}, nil
	case "project":
		return map[string]string{"key": value}, nil
	case "user":
		return j.userRef(ctx, value)
	}
	return value, nil
}

// arrayValue splits a comma-separated value into the items the schema names.
func arrayValue(items, value string) any {
	parts := strings.Split(value, ",")
	switch items {
	case "option":
		out := make([]map[string]string, len(parts))
		for i, p := range parts {
			out[i] = map[string]string{"value": strings.TrimSpace(p)}
		}
		return out
	case "version", "component":
		out := make([]map[string]string, len(parts))
		for i, p := range parts {
			out[i] = map[string]string{"name": strings.TrimSpace(p)}
		}
		return out
	}
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// truncate cuts s to at most n bytes, ellipsis included, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= len("…")
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
