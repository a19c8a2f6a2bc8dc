// Package awssecurityhub implements Postee's `awssecurityhub` action:
// import Trivy's findings (its ASFF template's output) into AWS Security
// Hub with BatchImportFindings, through the AWS SDK for Go v2 with the
// standard credential chain.
package awssecurityhub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/postee-fleet/posteed/agent/action"
)

func init() { action.Register("awssecurityhub", New) }

var _ action.Action = (*SecurityHub)(nil)

// batchSize is BatchImportFindings' limit.
const batchSize = 100

// importer is the one Security Hub call the action makes.
type importer interface {
	BatchImportFindings(ctx context.Context, in *securityhub.BatchImportFindingsInput, opts ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error)
}

// SecurityHub imports findings into one account and region.
type SecurityHub struct {
	name   string
	client importer
	log    *slog.Logger
}

// New decodes the action and, when it runs here, loads the AWS
// configuration: the region must be known now, credentials are fetched on
// the first import.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	c.setDefaults()
	s := &SecurityHub{name: spec.Name, log: spec.Log()}
	if spec.Remote {
		return s, nil // the runner loads its own AWS configuration
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(c.Region),
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(c.Timeout.D())))
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: set region, AWS_REGION, or a region in the AWS profile")
	}
	s.client = securityhub.NewFromConfig(cfg, func(o *securityhub.Options) {
		o.Retryer = aws.NopRetryer{} // the engine owns retries
		if c.Endpoint.Set() {
			o.BaseEndpoint = aws.String(c.Endpoint.Value())
		}
	})
	return s, nil
}

// Send imports the body's findings, 100 per call. A retry sends them all
// again, which is harmless: an import updates findings by Id.
func (s *SecurityHub) Send(ctx context.Context, m action.Message) (bool, error) {
	var r report
	if err := json.Unmarshal([]byte(m.Body), &r); err != nil {
		return false, fmt.Errorf("action %q: the body is not Trivy's ASFF report: %w", s.name, errors.Join(err, action.ErrPermanent))
	}
	if len(r.Findings) == 0 {
		return false, fmt.Errorf("action %q: the report has no findings: %w", s.name, action.ErrPermanent)
	}
	imported := 0
	for _, batch := range chunks(r.Findings, batchSize) {
		in := &securityhub.BatchImportFindingsInput{}
		for _, f := range batch {
			in.Findings = append(in.Findings, f.asff())
		}
		out, err := s.client.BatchImportFindings(ctx, in)
		if err != nil {
			return retryable(err), fmt.Errorf("action %q: import findings: %w", s.name, err)
		}
		if err := failed(out); err != nil {
			return false, fmt.Errorf("action %q: %w", s.name, err)
		}
		imported += int(aws.ToInt32(out.SuccessCount))
	}
	s.log.Debug("findings imported into AWS Security Hub", "action", s.name, "event_id", m.EventID, "findings", imported)
	return false, nil
}

// failed reports findings Security Hub refused: they will be refused again.
func failed(out *securityhub.BatchImportFindingsOutput) error {
	if len(out.FailedFindings) == 0 {
		return nil
	}
	f := out.FailedFindings[0]
	return fmt.Errorf("security hub refused %d finding(s), first %s: %s: %s: %w", len(out.FailedFindings),
		aws.ToString(f.Id), aws.ToString(f.ErrorCode), aws.ToString(f.ErrorMessage), action.ErrPermanent)
}

// retryable says whether the import may succeed later: throttling, server
// errors and network trouble yes; refusals and missing credentials no.
func retryable(err error) bool {
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		code := status.HTTPStatusCode()
		return code == http.StatusTooManyRequests || code >= 500
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}
