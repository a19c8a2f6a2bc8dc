package bundled

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// benchmarkRender measures one package on one sample event the way the
// engine renders: a prepared query and an input converted once.
func benchmarkRender(b *testing.B, pkg, event string) {
	c, err := compiled()
	if err != nil {
		b.Fatal(err)
	}
	pq := prepare(b, c, pkg)
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

func BenchmarkTraceeSlack(b *testing.B) {
	benchmarkRender(b, "postee.tracee.slack", "tracee-finding.json")
}

func BenchmarkTraceeHTMLLegacy(b *testing.B) {
	benchmarkRender(b, "postee.tracee.html", "tracee-finding-legacy.json")
}

func BenchmarkRawJSON(b *testing.B) {
	benchmarkRender(b, "postee.rawmessage.json", "tracee-finding.json")
}
