package config

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// Problem is one Error in `check --format json` output.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
}

// report is `check --format json` output.
type report struct {
	Valid    bool      `json:"valid"`
	Files    []string  `json:"files"`
	Problems []Problem `json:"problems"`
	Warnings []Problem `json:"warnings"`
}

// Report prints what checking files found: as text, every problem
// ("file:line: key: message") then a verdict per file ("file: valid" or
// "file: invalid (N problems)"); as JSON (format "json"), one document
// {"valid", "files", "problems": [{"file", "line", "key", "message"}]}.
// Problems come in the order of files, each file's sorted by line; those
// in files the last one refers to (Rego input files, rego-templates) come
// after and count toward it. Warnings (what loads but will not act) come
// first as "warning: file:line: key: message" lines; a valid file with some
// says "valid, with N warnings".
func Report(w io.Writer, format string, files []string, errs, warns Errors) error {
	var sorted Errors
	for _, f := range files {
		var mine Errors
		for _, e := range errs {
			if e.File == f {
				mine = append(mine, e)
			}
		}
		sorted = append(sorted, mine.Sort(f)...)
	}
	var others Errors // in a file the config refers to: a Rego file, a template
	for _, e := range errs {
		if !slices.Contains(files, e.File) {
			others = append(others, e)
		}
	}
	sorted = append(sorted, others.Sort("")...)
	if format == "json" {
		r := report{Valid: len(sorted) == 0, Files: files, Problems: []Problem{}, Warnings: []Problem{}}
		for _, e := range sorted {
			r.Problems = append(r.Problems, Problem{File: e.File, Line: e.Line, Key: e.Key, Message: e.Msg})
		}
		for _, e := range warns {
			r.Warnings = append(r.Warnings, Problem{File: e.File, Line: e.Line, Key: e.Key, Message: e.Msg})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	}
	for _, e := range warns {
		if _, err := fmt.Fprintln(w, "warning:", e); err != nil {
			return err
		}
	}
	for _, e := range sorted {
		if _, err := fmt.Fprintln(w, e); err != nil {
			return err
		}
	}
	for i, f := range files {
		n := 0
		for _, e := range sorted {
			if e.File == f || (i == len(files)-1 && !slices.Contains(files, e.File)) {
				n++
			}
		}
		verdict := "valid"
		if n > 0 {
			verdict = fmt.Sprintf("invalid (%d problem%s)", n, plural(n))
		} else if k := len(warns); k > 0 && i == len(files)-1 {
			verdict = fmt.Sprintf("valid, with %d warning%s", k, plural(k))
		}
		if _, err := fmt.Fprintf(w, "%s: %s\n", f, verdict); err != nil {
			return err
		}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// CheckFormat validates a --format value.
func CheckFormat(format string) error {
	if format != "text" && format != "json" {
		return fmt.Errorf("--format %q: use text or json", format)
	}
	return nil
}
