package kubernetes

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// kubeconfig is the part of a kubeconfig file a client needs: its current
// context's cluster and user. Credential plugins (users[].exec,
// auth-provider) are not run: give the action a service account token.
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Contexts       []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
	Clusters []struct {
		Name    string  `yaml:"name"`
		Cluster cluster `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User user   `yaml:"user"`
	} `yaml:"users"`
}

type cluster struct {
	Server                   string `yaml:"server"`
	CertificateAuthority     string `yaml:"certificate-authority"`
	CertificateAuthorityData string `yaml:"certificate-authority-data"`
	InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
	TLSServerName            string `yaml:"tls-server-name"`
}

type user struct {
	Token                 string         `yaml:"token"`
	TokenFile             string         `yaml:"tokenFile"`
	ClientCertificate     string         `yaml:"client-certificate"`
	ClientCertificateData string         `yaml:"client-certificate-data"`
	ClientKey             string         `yaml:"client-key"`
	ClientKeyData         string         `yaml:"client-key-data"`
	Username              string         `yaml:"username"`
	Password              string         `yaml:"password"`
	Exec                  map[string]any `yaml:"exec"`
	AuthProvider          map[string]any `yaml:"auth-provider"`
}

// endpoint is where and how to reach the API server.
type endpoint struct {
	server    *url.URL
	tls       *tls.Config
	token     string // static bearer token
	tokenFile string // re-read on each request: service account tokens rotate
	basic     [2]string
}

// loadKubeconfig reads path; relative paths inside it are relative to its
// directory, as kubectl takes them.
func loadKubeconfig(path string) (*endpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kube-config-file: %w", err)
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return nil, fmt.Errorf("kube-config-file %s: not a kubeconfig: %w", path, err)
	}
	cl, u, err := kc.current()
	if err != nil {
		return nil, fmt.Errorf("kube-config-file %s: %w", path, err)
	}
	ep, err := newEndpoint(cl, u, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("kube-config-file %s: %w", path, err)
	}
	return ep, nil
}

// current is the cluster and user of the current context.
func (kc *kubeconfig) current() (cluster, user, error) {
	for _, c := range kc.Contexts {
		if c.Name != kc.CurrentContext {
			continue
		}
		var cl *cluster
		for i := range kc.Clusters {
			if kc.Clusters[i].Name == c.Context.Cluster {
				cl = &kc.Clusters[i].Cluster
			}
		}
		if cl == nil {
			return cluster{}, user{}, fmt.Errorf("context %q names cluster %q, which is not defined", c.Name, c.Context.Cluster)
		}
		for _, u := range kc.Users {
			if u.Name == c.Context.User {
				return *cl, u.User, nil
			}
		}
		return *cl, user{}, nil // a cluster that needs no credentials
	}
	return cluster{}, user{}, fmt.Errorf("current-context %q is not defined", kc.CurrentContext)
}

func newEndpoint(cl cluster, u user, dir string) (*endpoint, error) {
	server, err := url.Parse(cl.Server)
	if err != nil || server.Scheme != "https" && server.Scheme != "http" || server.Host == "" {
		return nil, errors.New("the cluster's server is not an http(s) URL")
	}
	if u.Exec != nil || u.AuthProvider != nil {
		return nil, errors.New("credential plugins (exec, auth-provider) are not supported: give the action a service account token (token or tokenFile) or a client certificate")
	}
	ep := &endpoint{server: server, token: u.Token, tokenFile: rel(dir, u.TokenFile), basic: [2]string{u.Username, u.Password}}
	ep.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cl.TLSServerName, InsecureSkipVerify: cl.InsecureSkipTLSVerify} //nolint:gosec // the kubeconfig asks
	if err := ep.trust(cl, dir); err != nil {
		return nil, err
	}
	return ep, ep.identify(u, dir)
}

// trust sets the CA the server's certificate must chain to.
func (ep *endpoint) trust(cl cluster, dir string) error {
	pem, err := data(cl.CertificateAuthorityData, rel(dir, cl.CertificateAuthority))
	if err != nil || pem == nil {
		return wrap("certificate-authority", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return errors.New("certificate-authority: no PEM certificate")
	}
	ep.tls.RootCAs = pool
	return nil
}

// identify sets the client certificate, if the user has one.
func (ep *endpoint) identify(u user, dir string) error {
	certPEM, err := data(u.ClientCertificateData, rel(dir, u.ClientCertificate))
	if err != nil {
		return wrap("client-certificate", err)
	}
	keyPEM, err := data(u.ClientKeyData, rel(dir, u.ClientKey))
	if err != nil {
		return wrap("client-key", err)
	}
	if certPEM == nil && keyPEM == nil {
		return nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	ep.tls.Certificates = []tls.Certificate{pair}
	return nil
}

// bearer is the token to send, if any.
func (ep *endpoint) bearer() (string, error) {
	if ep.tokenFile == "" {
		return ep.token, nil
	}
	b, err := os.ReadFile(ep.tokenFile)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// data is inline base64 data, or a file's contents, or nil for neither.
func data(inline, file string) ([]byte, error) {
	if inline != "" {
		return base64.StdEncoding.DecodeString(inline)
	}
	if file == "" {
		return nil, nil
	}
	return os.ReadFile(file)
}

func rel(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Where a pod's service account finds the API server.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// inCluster is the endpoint of the pod's own service account.
func inCluster(lookupEnv func(string) (string, bool), saDir string) (*endpoint, error) {
	host, ok := lookupEnv("KUBERNETES_SERVICE_HOST")
	port, _ := lookupEnv("KUBERNETES_SERVICE_PORT")
	if !ok || host == "" {
		return nil, errors.New("kube-config-file is required outside a Kubernetes pod")
	}
	if port == "" {
		port = "443"
	}
	cl := cluster{Server: "https://" + net.JoinHostPort(host, port), CertificateAuthority: filepath.Join(saDir, "ca.crt")}
	return newEndpoint(cl, user{TokenFile: filepath.Join(saDir, "token")}, saDir)
}
