// Package kubernetes implements Postee's `kubernetes` action: label and
// annotate the pods a label selector picks, in one namespace, through the
// Kubernetes API.
//
// The two calls it needs (list pods, merge-patch a pod's metadata) are
// made with net/http and a small kubeconfig reader (server, CA, token or
// token file, client certificate) rather than client-go, which would add
// tens of megabytes to the daemons for them. A merge patch sets just the
// given keys, so there is no read-modify-write and no conflict to retry,
// unlike Postee's get-then-update.
package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
	"github.com/postee-fleet/posteed/agent/action/subst"
)

func init() { action.Register("kubernetes", New) }

var _ action.Action = (*Kubernetes)(nil)

// Kubernetes changes the metadata of the pods a selector picks.
type Kubernetes struct {
	name      string
	namespace string
	selector  *subst.Template
	labels    map[string]*subst.Template
	notes     map[string]*subst.Template // annotations
	ep        *endpoint
	client    *http.Client
	log       *slog.Logger
}

// New decodes and validates a kubernetes action and, when it runs here,
// reads its kubeconfig.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err // the engine names the file, line and action
	}
	k := &Kubernetes{
		name: spec.Name, namespace: c.Namespace, selector: subst.Compile(c.LabelSelector),
		labels: compile(c.Actions["labels"]), notes: compile(c.Actions["annotations"]), log: spec.Log(),
	}
	if spec.Remote {
		// The kubeconfig is read on the runner, which gets no copy of it.
		// Without one the runner uses its pod's service account, which
		// only a runner in a Kubernetes pod has; whether it runs in one is
		// not known here, so that is a warning, not an error.
		switch {
		case c.ConfigFile == "":
			spec.Warn(noKubeconfigOnRunner)
		case !filepath.IsAbs(c.ConfigFile):
			return nil, errors.New("kube-config-file must be an absolute path on the runner's host")
		}
		return k, nil
	}
	ep, err := endpointFor(c.ConfigFile, spec.BaseDir)
	if err != nil {
		return nil, err // the engine names the file, line and action
	}
	k.ep = ep
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = ep.tls
	k.client = &http.Client{Timeout: c.Timeout.D(), Transport: tr}
	return k, nil
}

// noKubeconfigOnRunner is check's warning for an action placed on a
// runner without kube-config-file.
const noKubeconfigOnRunner = "kube-config-file is required unless the runner runs in a Kubernetes pod (whose service account is used then); a runner outside one refuses its whole config"

func endpointFor(file, baseDir string) (*endpoint, error) {
	if file == "" {
		return inCluster(os.LookupEnv, serviceAccountDir)
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(baseDir, file)
	}
	return loadKubeconfig(file)
}

func compile(m map[string]string) map[string]*subst.Template {
	out := map[string]*subst.Template{}
	for k, v := range m {
		out[k] = subst.Compile(v)
	}
	return out
}

// Send patches every pod the selector picks. A failure on one pod does not
// stop the others; the error names each.
func (k *Kubernetes) Send(ctx context.Context, m action.Message) (bool, error) {
	if len(k.labels) == 0 && len(k.notes) == 0 {
		return false, nil
	}
	selector := string(k.selector.Render(m.Doc()))
	pods, retry, err := k.pods(ctx, selector)
	if err != nil {
		return retry, fmt.Errorf("action %q: list pods: %w", k.name, err)
	}
	if len(pods) == 0 {
		k.log.Info("kubernetes: no pod matches", "action", k.name, "namespace", k.namespace, "selector", selector, "event_id", m.EventID)
		return false, nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"labels": render(k.labels, m.Doc()), "annotations": render(k.notes, m.Doc()),
	}})
	if err != nil {
		return false, fmt.Errorf("action %q: %w", k.name, err)
	}
	var errs []error
	for _, pod := range pods {
		r, err := k.patch(ctx, pod, patch)
		if err != nil {
			retry = retry || r
			errs = append(errs, fmt.Errorf("pod %s: %w", pod, err))
		}
	}
	if len(errs) > 0 {
		return retry, fmt.Errorf("action %q: %w", k.name, errors.Join(errs...))
	}
	k.log.Info("kubernetes: pods updated", "action", k.name, "namespace", k.namespace, "pods", len(pods), "event_id", m.EventID)
	return false, nil
}

func render(ts map[string]*subst.Template, input any) map[string]string {
	if len(ts) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, t := range ts {
		out[k] = string(t.Render(input))
	}
	return out
}

// pods lists the names of the pods the selector picks.
func (k *Kubernetes) pods(ctx context.Context, selector string) ([]string, bool, error) {
	path := "/api/v1/namespaces/" + url.PathEscape(k.namespace) + "/pods?labelSelector=" + url.QueryEscape(selector)
	body, retry, err := k.call(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return nil, retry, err
	}
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, false, fmt.Errorf("unexpected answer: %w", err)
	}
	var names []string
	for _, it := range list.Items {
		names = append(names, it.Metadata.Name)
	}
	return names, false, nil
}

func (k *Kubernetes) patch(ctx context.Context, pod string, patch []byte) (bool, error) {
	path := "/api/v1/namespaces/" + url.PathEscape(k.namespace) + "/pods/" + url.PathEscape(pod)
	_, retry, err := k.call(ctx, http.MethodPatch, path, "application/merge-patch+json", patch)
	return retry, err
}

// call makes one API request with the endpoint's credentials.
func (k *Kubernetes) call(ctx context.Context, method, path, ctype string, body []byte) ([]byte, bool, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(k.ep.server.String(), "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, false, fmt.Errorf("build request: %w", action.ErrPermanent)
	}
	req.Header.Set("Accept", "application/json")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	token, err := k.ep.bearer()
	if err != nil {
		return nil, false, err
	}
	switch {
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	case k.ep.basic[0] != "":
		req.SetBasicAuth(k.ep.basic[0], k.ep.basic[1])
	}
	return httpx.Do(ctx, k.client, req)
}
