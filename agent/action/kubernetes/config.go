package kubernetes

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"

	"github.com/postee-fleet/posteed/agent/action/httpx"
	"github.com/postee-fleet/posteed/agent/config"
)

// Config holds the Postee keys of a kubernetes action, plus timeout.
type Config struct {
	// Namespace is where pods are looked for.
	Namespace string `yaml:"kube-namespace"`
	// ConfigFile is a kubeconfig; without it, the in-cluster service
	// account is used (KUBERNETES_SERVICE_HOST).
	ConfigFile string `yaml:"kube-config-file"`
	// LabelSelector picks the pods; event.input references are replaced.
	LabelSelector string `yaml:"kube-label-selector"`
	// Actions has "labels" and "annotations", each a map of keys to values
	// set on every pod picked; a value may be an event.input reference.
	Actions map[string]map[string]string `yaml:"kube-actions"`
	// Timeout bounds one request (ours).
	Timeout config.Duration `yaml:"timeout"`
}

// labelKey is a Kubernetes label or annotation key: an optional DNS
// prefix and a name.
// Compiled on first use: the bounded repetitions make a 250 KB program,
// which every postee-runner kept in memory whether or not it runs
// kubernetes actions.
var labelKey = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
})

func (c *Config) validate() error {
	if c.Timeout == 0 {
		c.Timeout = config.Duration(httpx.DefaultTimeout)
	}
	if c.Namespace == "" {
		return errors.New("kube-namespace is required")
	}
	for kind, kv := range c.Actions {
		if kind != "labels" && kind != "annotations" {
			return fmt.Errorf("kube-actions: %q is neither labels nor annotations", kind)
		}
		for _, k := range sortedKeys(kv) {
			if !labelKey().MatchString(k) {
				return fmt.Errorf("kube-actions.%s: %q is not a valid key", kind, k)
			}
		}
	}
	if len(c.Actions) > 0 && c.LabelSelector == "" {
		return errors.New("kube-label-selector is required with kube-actions: it picks the pods to change")
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
