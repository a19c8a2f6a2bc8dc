// Package awssecurityhub implements Postee's `awssecurityhub` action:
// import Trivy's findings (its ASFF template's output) into AWS Security
// Hub with BatchImportFindings, signed with Signature Version 4 (sigv4.go)
// and credentials from the usual AWS sources (credentials.go).
//
// The call, the signature and the credential providers are made here
// rather than with the AWS SDK: its Security Hub client and config loader
// bring its SSO, STS and sign-in clients and Security Hub's whole model,
// 5 MB of binary and 2.5 MiB of idle memory in every runner, for one JSON
// POST; even its signer and credential providers alone cost the runner
// about 0.8 MiB. The SDK is used only by the tests, as the reference the
// signature and the providers are checked against.
package awssecurityhub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
)

func init() { action.Register("awssecurityhub", New) }

var _ action.Action = (*SecurityHub)(nil)

// batchSize is BatchImportFindings' limit.
const batchSize = 100

// SecurityHub imports findings into one account and region.
type SecurityHub struct {
	name   string
	url    string // the BatchImportFindings URL
	region string
	creds  credentialSource
	client *http.Client
	log    *slog.Logger
}

// New decodes the action and, when it runs here, resolves the region and
// where credentials come from; they are fetched on the first import.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	c.setDefaults()
	s := &SecurityHub{name: spec.Name, log: spec.Log()}
	if spec.Remote {
		return s, nil // the runner resolves its own AWS settings
	}
	if err := s.setup(c, awsEnv{getenv: os.Getenv}); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *SecurityHub) setup(c Config, env awsEnv) error {
	prof, err := env.profile()
	if err != nil {
		return fmt.Errorf("aws configuration: %w", err)
	}
	s.region = firstOf(c.Region, env.get("AWS_REGION"), env.get("AWS_DEFAULT_REGION"), prof.get("region"))
	if s.region == "" {
		return errors.New("no AWS region: set region, AWS_REGION, or a region in the AWS profile")
	}
	s.client = httpx.NewClient(c.Timeout.D(), false)
	if s.creds, err = env.credentials(prof, s.region, s.client); err != nil {
		return fmt.Errorf("aws credentials: %w", err)
	}
	base := firstOf(c.Endpoint.Value(), env.endpoint("SECURITYHUB"), serviceURL("securityhub", s.region))
	s.url = strings.TrimSuffix(base, "/") + "/findings/import"
	return nil
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
		n, retry, err := s.importBatch(ctx, batch)
		if err != nil {
			return retry, fmt.Errorf("action %q: %w", s.name, err)
		}
		imported += n
	}
	s.log.Debug("findings imported into AWS Security Hub", "action", s.name, "event_id", m.EventID, "findings", imported)
	return false, nil
}

// importResult is BatchImportFindings' answer.
type importResult struct {
	SuccessCount   int
	FailedFindings []struct{ ID, ErrorCode, ErrorMessage string }
}

func (s *SecurityHub) importBatch(ctx context.Context, batch []finding) (imported int, retry bool, err error) {
	in := struct{ Findings []asffFinding }{}
	for _, f := range batch {
		in.Findings = append(in.Findings, f.asff())
	}
	body, err := json.Marshal(in)
	if err != nil {
		return 0, false, err
	}
	req, err := s.signedPost(ctx, body)
	if err != nil {
		return 0, retryable(err), fmt.Errorf("import findings: %w", err)
	}
	answer, retry, err := httpx.Do(ctx, s.client, req)
	if err != nil {
		return 0, retry, fmt.Errorf("import findings: %w", err)
	}
	var out importResult
	if err := json.Unmarshal(answer, &out); err != nil {
		return 0, false, fmt.Errorf("import findings: unreadable answer: %w", err)
	}
	if n := len(out.FailedFindings); n > 0 {
		f := out.FailedFindings[0]
		return 0, false, fmt.Errorf("security hub refused %d finding(s), first %s: %s: %s: %w", n, f.ID, f.ErrorCode, f.ErrorMessage, action.ErrPermanent)
	}
	return out.SuccessCount, false, nil
}

// signedPost is the BatchImportFindings request, signed for the region
// with the current credentials.
func (s *SecurityHub) signedPost(ctx context.Context, body []byte) (*http.Request, error) {
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws credentials: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", action.ErrPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	signV4(req, creds, payloadHash(body), "securityhub", s.region, time.Now())
	return req, nil
}

func payloadHash(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// retryable says whether fetching credentials may succeed later:
// throttling, server errors and network trouble yes; refusals no.
func retryable(err error) bool {
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		code := status.HTTPStatusCode()
		return code == http.StatusTooManyRequests || code >= 500
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
