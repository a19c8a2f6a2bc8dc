// Package bundled holds posteed's own Rego templates: the packages Postee
// ships (postee.vuls.html, postee.tracee.slack, ...), their aggregation
// packages, and the data.postee helpers that Postee-era user templates
// import. The engine compiles them next to the user's templates.
package bundled

import (
	"embed"
	"io/fs"
)

// FS holds every bundled .rego file at its top level.
//
//go:embed *.rego
var FS embed.FS

// Files returns each bundled file's name and source. All files are Rego v1.
func Files() map[string]string {
	entries, err := fs.ReadDir(FS, ".")
	if err != nil {
		// The embedded FS is built at compile time; failing to list its own
		// root is a broken binary, not a runtime condition.
		panic("bundled: read embedded templates: " + err.Error())
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		b, err := FS.ReadFile(e.Name())
		if err != nil {
			panic("bundled: read embedded template: " + err.Error())
		}
		out[e.Name()] = string(b)
	}
	return out
}

// samples are the events `check` renders every template on: a Trivy
// report, an Aqua image scan and a Tracee finding in each of its shapes
// (copies of testdata/events, which the tests use).
//
//go:embed samples/*.json
var samples embed.FS

// Sample is one sample event.
type Sample struct {
	Name string // file name, e.g. trivy-image-report.json
	JSON []byte
}

// Samples returns the sample events, sorted by name.
func Samples() []Sample {
	entries, err := fs.ReadDir(samples, "samples")
	if err != nil {
		panic("bundled: read embedded samples: " + err.Error())
	}
	out := make([]Sample, 0, len(entries))
	for _, e := range entries {
		b, err := samples.ReadFile("samples/" + e.Name())
		if err != nil {
			panic("bundled: read embedded sample: " + err.Error())
		}
		out = append(out, Sample{Name: e.Name(), JSON: b})
	}
	return out
}
