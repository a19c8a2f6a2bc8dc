package awssecurityhub

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"
)

// report is what Trivy writes with its ASFF template (`trivy image
// --format template --template @contrib/asff.tpl`), passed through the
// route's template unchanged (postee.rawmessage.json).
type report struct {
	Findings []finding `json:"Findings"`
}

// finding holds the ASFF fields the import keeps.
type finding struct {
	SchemaVersion string   `json:"SchemaVersion"`
	ID            string   `json:"Id"`
	ProductArn    string   `json:"ProductArn"`
	GeneratorID   string   `json:"GeneratorId"`
	AwsAccountID  string   `json:"AwsAccountId"`
	Types         []string `json:"Types"`
	CreatedAt     string   `json:"CreatedAt"`
	UpdatedAt     string   `json:"UpdatedAt"`
	Severity      struct {
		Label string `json:"Label"`
	} `json:"Severity"`
	Title       string `json:"Title"`
	Description string `json:"Description"`
	Remediation struct {
		Recommendation struct {
			Text string `json:"Text"`
			URL  string `json:"Url"`
		} `json:"Recommendation"`
	} `json:"Remediation"`
}

// asff maps a finding as Postee did, so findings imported by Postee and by
// posteed look the same in Security Hub: the top-level fields as given, one
// resource whose Id is the finding's Id and whose Type is its Types joined
// by spaces, the remediation and the severity label.
func (f finding) asff() types.AwsSecurityFinding {
	return types.AwsSecurityFinding{
		AwsAccountId:  aws.String(f.AwsAccountID),
		CreatedAt:     aws.String(f.CreatedAt),
		Description:   aws.String(f.Description),
		GeneratorId:   aws.String(f.GeneratorID),
		Id:            aws.String(f.ID),
		ProductArn:    aws.String(f.ProductArn),
		SchemaVersion: aws.String(f.SchemaVersion),
		Title:         aws.String(f.Title),
		UpdatedAt:     aws.String(f.UpdatedAt),
		Types:         f.Types,
		Resources:     []types.Resource{{Id: aws.String(f.ID), Type: aws.String(strings.Join(f.Types, " "))}},
		Remediation: &types.Remediation{Recommendation: &types.Recommendation{
			Text: aws.String(f.Remediation.Recommendation.Text),
			Url:  aws.String(f.Remediation.Recommendation.URL),
		}},
		Severity: &types.Severity{Label: types.SeverityLabel(f.Severity.Label)},
	}
}

// chunks splits findings into batches of at most n: BatchImportFindings
// takes 100 at a time.
func chunks[T any](items []T, n int) [][]T {
	var out [][]T
	for len(items) > n {
		out, items = append(out, items[:n:n]), items[n:]
	}
	return append(out, items)
}
