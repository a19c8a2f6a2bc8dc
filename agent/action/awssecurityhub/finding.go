package awssecurityhub

import "strings"

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

// asffFinding is one finding as BatchImportFindings takes it (the
// AwsSecurityFinding shape, the fields Postee set).
type asffFinding struct {
	AwsAccountID  string      `json:"AwsAccountId"`
	CreatedAt     string      `json:"CreatedAt"`
	Description   string      `json:"Description"`
	GeneratorID   string      `json:"GeneratorId"`
	ID            string      `json:"Id"`
	ProductArn    string      `json:"ProductArn"`
	SchemaVersion string      `json:"SchemaVersion"`
	Title         string      `json:"Title"`
	UpdatedAt     string      `json:"UpdatedAt"`
	Types         []string    `json:"Types,omitempty"`
	Resources     []resource  `json:"Resources"`
	Remediation   remediation `json:"Remediation"`
	Severity      severity    `json:"Severity"`
}

type resource struct {
	ID   string `json:"Id"`
	Type string `json:"Type"`
}

type remediation struct {
	Recommendation recommendation `json:"Recommendation"`
}

type recommendation struct {
	Text string `json:"Text"`
	URL  string `json:"Url"`
}

type severity struct {
	Label string `json:"Label,omitempty"`
}

// asff maps a finding as Postee did, so findings imported by Postee and by
// posteed look the same in Security Hub: the top-level fields as given, one
// resource whose Id is the finding's Id and whose Type is its Types joined
// by spaces, the remediation and the severity label.
func (f finding) asff() asffFinding {
	return asffFinding{
		AwsAccountID:  f.AwsAccountID,
		CreatedAt:     f.CreatedAt,
		Description:   f.Description,
		GeneratorID:   f.GeneratorID,
		ID:            f.ID,
		ProductArn:    f.ProductArn,
		SchemaVersion: f.SchemaVersion,
		Title:         f.Title,
		UpdatedAt:     f.UpdatedAt,
		Types:         f.Types,
		Resources:     []resource{{ID: f.ID, Type: strings.Join(f.Types, " ")}},
		Remediation:   remediation{Recommendation: recommendation(f.Remediation.Recommendation)},
		Severity:      severity{Label: f.Severity.Label},
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
