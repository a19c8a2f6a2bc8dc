package bundled

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// renderQuery is the engine's query for a template package: only the four
// documents it reads, not the package's helpers or aggregation sub-package.
func renderQuery(pkg string) ast.Body {
	ref := ast.MustParseRef("data." + pkg)
	rule := func(name string) *ast.Term { return ast.NewTerm(ref.Append(ast.StringTerm(name))) }
	optional := func(name string) *ast.Term {
		x := ast.VarTerm("x")
		return ast.ArrayComprehensionTerm(x, ast.NewBody(ast.Assign.Expr(x, rule(name))))
	}
	return ast.NewBody(
		ast.Assign.Expr(ast.VarTerm("__title"), rule("title")),
		ast.Assign.Expr(ast.VarTerm("__result"), rule("result")),
		ast.Assign.Expr(ast.VarTerm("__url"), optional("url")),
		ast.Assign.Expr(ast.VarTerm("__agg"), optional("aggregation_pkg")),
	)
}

// benchmarkRender measures one package on one sample event the way the
// engine renders: a prepared query for title, result, url and
// aggregation_pkg, and an input converted once.
func benchmarkRender(b *testing.B, pkg, event string) {
	c, err := compiled()
	if err != nil {
		b.Fatal(err)
	}
	pq, err := rego.New(rego.ParsedQuery(renderQuery(pkg)), rego.Compiler(c)).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	in, err := ast.InterfaceToValue(sampleEvent(b, event))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rs, err := pq.Eval(ctx, rego.EvalParsedInput(in))
		if err != nil || len(rs) != 1 {
			b.Fatalf("eval %s: %v (%d results)", pkg, err, len(rs))
		}
	}
}

func BenchmarkVulsHTMLTrivy(b *testing.B) {
	benchmarkRender(b, "postee.vuls.html", "trivy-image-report.json")
}

func BenchmarkVulsSlackTrivy(b *testing.B) {
	benchmarkRender(b, "postee.vuls.slack", "trivy-image-report.json")
}

func BenchmarkTrivyJira(b *testing.B) {
	benchmarkRender(b, "postee.trivy.jira", "trivy-image-report.json")
}

func BenchmarkTraceeSlack(b *testing.B) {
	benchmarkRender(b, "postee.tracee.slack", "tracee-finding.json")
}

func BenchmarkTraceeHTML(b *testing.B) {
	benchmarkRender(b, "postee.tracee.html", "tracee-finding.json")
}

func BenchmarkTraceeHTMLLegacy(b *testing.B) {
	benchmarkRender(b, "postee.tracee.html", "tracee-finding-legacy.json")
}

func BenchmarkRawJSON(b *testing.B) {
	benchmarkRender(b, "postee.rawmessage.json", "tracee-finding.json")
}

func BenchmarkRawJSONTrivy(b *testing.B) {
	benchmarkRender(b, "postee.rawmessage.json", "trivy-image-report.json")
}

func BenchmarkRawHTMLImageScan(b *testing.B) {
	benchmarkRender(b, "postee.rawmessage.html", "image-scan.json")
}

// benchmarkNative measures the Go renderer of pkg on one sample event,
// to set beside benchmarkRender's Rego figure.
func benchmarkNative(b *testing.B, pkg, event string) {
	render := Native(pkg, nil)
	in, err := ast.InterfaceToValue(sampleEvent(b, event))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := render(in); !ok {
			b.Fatalf("%s left %s to the Rego", pkg, event)
		}
	}
}

func BenchmarkNativeVulsHTMLTrivy(b *testing.B) {
	benchmarkNative(b, "postee.vuls.html", "trivy-image-report.json")
}

func BenchmarkNativeVulsSlackImageScan(b *testing.B) {
	benchmarkNative(b, "postee.vuls.slack", "image-scan.json")
}

func BenchmarkNativeTrivyJira(b *testing.B) {
	benchmarkNative(b, "postee.trivy.jira", "trivy-image-report.json")
}

func BenchmarkNativeTraceeSlackLegacy(b *testing.B) {
	benchmarkNative(b, "postee.tracee.slack", "tracee-finding-legacy.json")
}

func BenchmarkNativeTraceeHTML(b *testing.B) {
	benchmarkNative(b, "postee.tracee.html", "tracee-finding.json")
}

func BenchmarkNativeRawJSONTrivy(b *testing.B) {
	benchmarkNative(b, "postee.rawmessage.json", "trivy-image-report.json")
}

func BenchmarkNativeRawHTMLImageScan(b *testing.B) {
	benchmarkNative(b, "postee.rawmessage.html", "image-scan.json")
}
