package settings

import (
	"fmt"
	"slices"
	"strings"
)

// Map is a flag of name=value pairs, "a=1,b=2" (repeat the flag or
// separate pairs with commas); in the settings file it is an inline table,
// key = { a = "1", b = "2" }.
type Map map[string]string

// Set implements flag.Value; pairs add to those already given.
func (m *Map) Set(text string) error {
	if *m == nil {
		*m = Map{}
	}
	for _, pair := range strings.Split(text, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return fmt.Errorf("%q is not name=value", pair)
		}
		if _, dup := (*m)[k]; dup {
			return fmt.Errorf("%q given twice", k)
		}
		(*m)[k] = v
	}
	return nil
}

func (m *Map) String() string {
	if m == nil {
		return ""
	}
	parts := make([]string, 0, len(*m))
	for k, v := range *m {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
