package bundled

import (
	"net/url"
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"
)

// report is what lib_vuls reads from a Trivy report or an Aqua image scan.
type report struct {
	title      string
	details    []labeled
	compliance string
	checks     [][4]string
	groups     []group
	rows       int          // in the groups
	counts     [5]ast.Value // by bucket
	labels     [5]string
	url        string
}

var buckets = [5]string{"critical", "high", "medium", "low", "unknown"}

// summaryKeys are the buckets' keys in an Aqua vulnerability_summary.
var summaryKeys = [5]string{"critical", "high", "medium", "low", "negligible"}

type group struct {
	bucket int
	rows   []row
}

// row is one vulnerability; values stay as the scanner wrote them.
type row struct {
	id, pkg, installed, fixed, title ast.Value
	url                              string
	bucket                           int
}

// readReport reads in as lib_vuls does; ok is false for a shape the Go
// code leaves to the Rego (input not an object, a list that is an object).
func readReport(in ast.Value) (report, bool) {
	if !isObject(in) {
		return report{}, false
	}
	rows, ok := vulnRows(in)
	checks, ok2 := assuranceChecks(field(in, "image_assurance_results"))
	if !ok || !ok2 {
		return report{}, false
	}
	_, aqua := field(in, "resources").(*ast.Array)
	aqua = aqua || isObject(field(in, "vulnerability_summary"))
	artifact := or(field(in, "ArtifactName"), or(field(in, "image"), emptyString))
	r := report{title: "Vulnerability scan report", checks: checks, labels: [5]string{"Critical", "High", "Medium", "Low", "Unknown"}}
	if aqua {
		r.labels[4] = "Negligible"
	}
	if !blank(artifact) {
		r.title = sprintf("%v vulnerability scan report", artifact)
	}
	r.details = reportDetails(in, artifact, aqua)
	r.compliance = compliance(path(in, "image_assurance_results", "disallowed"))
	r.groups, r.counts = groupRows(in, rows)
	r.rows = len(rows)
	r.url = consoleURL(in, artifact)
	return r, true
}

func reportDetails(in, artifact ast.Value, aqua bool) []labeled {
	label := "Artifact"
	if aqua || isString(field(in, "ArtifactType"), "container_image") {
		label = "Image"
	}
	var out []labeled
	for _, d := range []labeled{
		{label, artifact},
		{"Registry", or(field(in, "registry"), emptyString)},
		{"OS", ast.String(osText(in))},
	} {
		if !blank(d.value) && !isString(d.value, "none") {
			out = append(out, d)
		}
	}
	return out
}

// osText is lib_vuls's os.
func osText(in ast.Value) string {
	o := field(in, "os")
	if s, ok := o.(ast.String); ok && s != "" && s != "none" {
		return string(s) + " " + get(in, "version")
	}
	if present(o) {
		return get(in, "os") + " " + get(in, "version")
	}
	m := path(in, "Metadata", "OS")
	if f, ok := field(m, "Family").(ast.String); ok && f != "" && f != "none" {
		return string(f) + " " + get(m, "Name")
	}
	if !isObject(m) {
		m = emptyObject
	}
	if present(field(m, "Family")) {
		return get(m, "Family") + " " + get(m, "Name")
	}
	return "none"
}

// present is text.present on a defined value.
func present(v ast.Value) bool {
	return v != nil && !blank(v) && !isString(v, "none")
}

func compliance(disallowed ast.Value) string {
	if b, ok := disallowed.(ast.Boolean); ok {
		if b {
			return "Image is non-compliant"
		}
		return "Image is compliant"
	}
	return ""
}

// assuranceChecks are lib_vuls's checks.
func assuranceChecks(results ast.Value) ([][4]string, bool) {
	switch list := field(results, "checks_performed").(type) {
	case ast.Object:
		return nil, false
	case *ast.Array:
		out := make([][4]string, list.Len())
		for i := range list.Len() {
			c := list.Elem(i).Value
			status := "PASS"
			if isTrue(field(c, "failed")) {
				status = "FAIL"
			}
			out[i] = [4]string{strconv.Itoa(i + 1), get(c, "control"), get(c, "policy_name"), status}
		}
		return out, true
	}
	return nil, true
}

// consoleURL is lib_vuls's url: the image in the Aqua console.
func consoleURL(in, artifact ast.Value) string {
	server, ok := path(in, "postee", "AquaServer").(ast.String)
	a, ok2 := artifact.(ast.String)
	if !ok || !ok2 || webURL(server) == "" || a == "" {
		return ""
	}
	return string(server) + url.QueryEscape(get(in, "registry")) + "/" + url.QueryEscape(string(a))
}

// severityBuckets is lib_vuls's severity_buckets: both scanners'
// spellings.
var severityBuckets = ast.NewObject(
	ast.Item(ast.StringTerm("CRITICAL"), ast.StringTerm("critical")),
	ast.Item(ast.StringTerm("HIGH"), ast.StringTerm("high")),
	ast.Item(ast.StringTerm("MEDIUM"), ast.StringTerm("medium")),
	ast.Item(ast.StringTerm("LOW"), ast.StringTerm("low")),
	ast.Item(ast.StringTerm("critical"), ast.StringTerm("critical")),
	ast.Item(ast.StringTerm("high"), ast.StringTerm("high")),
	ast.Item(ast.StringTerm("medium"), ast.StringTerm("medium")),
	ast.Item(ast.StringTerm("low"), ast.StringTerm("low")),
)

// bucketOf is the bucket object.get(severity_buckets, severity, "unknown")
// names, -1 for none (a path reaching the whole object).
func bucketOf(severity ast.Value) int {
	if s, ok := objectGet(severityBuckets, severity, ast.String("unknown")).(ast.String); ok {
		for b, name := range buckets {
			if string(s) == name {
				return b
			}
		}
	}
	return -1
}

// vulnRows are lib_vuls's rows: Trivy's, then Aqua's.
func vulnRows(in ast.Value) ([]row, bool) {
	var rows []row
	ok := eachVuln(field(in, "Results"), "Vulnerabilities", func(_, v ast.Value) {
		rows = append(rows, row{
			id: or(field(v, "VulnerabilityID"), none), pkg: or(field(v, "PkgName"), none),
			installed: or(field(v, "InstalledVersion"), none), fixed: or(field(v, "FixedVersion"), none),
			bucket: bucketOf(or(field(v, "Severity"), emptyString)), url: webURL(or(field(v, "PrimaryURL"), emptyString)),
			title: or(field(v, "Title"), none),
		})
	})
	ok2 := eachVuln(field(in, "resources"), "vulnerabilities", func(r, v ast.Value) {
		rows = append(rows, row{
			id: or(field(v, "name"), none), pkg: or(path(r, "resource", "name"), none),
			installed: or(path(r, "resource", "version"), none), fixed: or(field(v, "fix_version"), none),
			bucket: bucketOf(or(field(v, "aqua_severity"), emptyString)), url: webURL(or(field(v, "nvd_url"), emptyString)),
			title: or(field(v, "description"), none),
		})
	})
	return rows, ok && ok2
}

// eachVuln calls f for every object v in r[key] of every r in list, as
// `some r in list; some v in r[key]` with object.get on v does (object.get
// fails on anything else). ok is false where the Rego would iterate an
// object's values.
func eachVuln(list ast.Value, key string, f func(r, v ast.Value)) bool {
	if isObject(list) {
		return false
	}
	a, _ := list.(*ast.Array)
	for i := range arrayLen(a) {
		r := a.Elem(i).Value
		vs := field(r, key)
		if isObject(vs) {
			return false
		}
		va, _ := vs.(*ast.Array)
		for j := range arrayLen(va) {
			if v := va.Elem(j).Value; isObject(v) {
				f(r, v)
			}
		}
	}
	return true
}

func arrayLen(a *ast.Array) int {
	if a == nil {
		return 0
	}
	return a.Len()
}

// groupRows are lib_vuls's groups (the non-empty buckets in order) and
// counts (Aqua's summary when there is one, else the rows counted).
func groupRows(in ast.Value, rows []row) ([]group, [5]ast.Value) {
	var all [5][]row
	for _, r := range rows {
		if r.bucket >= 0 {
			all[r.bucket] = append(all[r.bucket], r)
		}
	}
	var groups []group
	var counts [5]ast.Value
	summary := field(in, "vulnerability_summary")
	for b, l := range all {
		if len(l) > 0 {
			groups = append(groups, group{b, l})
		}
		counts[b] = ast.IntNumberTerm(len(l)).Value
		if isObject(summary) {
			counts[b] = or(field(summary, summaryKeys[b]), counts[b])
		}
	}
	return groups, counts
}
