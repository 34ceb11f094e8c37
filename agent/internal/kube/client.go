// Package kube is the agent's and the plugin's whole Kubernetes client: HTTPS with the
// kubeconfig's CA and token (or client certificate), JSON, list+watch. client-go would
// triple the build time for the four calls the data plane makes.
package kube

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

type Client struct {
	server string
	token  string
	http   *http.Client
}

type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server   string `yaml:"server"`
			CAData   string `yaml:"certificate-authority-data"`
			CAFile   string `yaml:"certificate-authority"`
			Insecure bool   `yaml:"insecure-skip-tls-verify"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Token     string `yaml:"token"`
			TokenFile string `yaml:"tokenFile"`
			CertData  string `yaml:"client-certificate-data"`
			KeyData   string `yaml:"client-key-data"`
			CertFile  string `yaml:"client-certificate"`
			KeyFile   string `yaml:"client-key"`
		} `yaml:"user"`
	} `yaml:"users"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
}

func dataOrFile(data, file string) ([]byte, error) {
	if data != "" {
		return base64.StdEncoding.DecodeString(data)
	}
	if file != "" {
		return os.ReadFile(file)
	}
	return nil, nil
}

// InCluster reads the service account mounted into a pod (the DaemonSet on real nodes).
func InCluster() (*Client, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" {
		return nil, fmt.Errorf("not in a cluster: KUBERNETES_SERVICE_HOST is unset (pass --kubeconfig)")
	}
	const sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
	token, err := os.ReadFile(sa + "token")
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(sa + "ca.crt")
	if err != nil {
		return nil, err
	}
	return newClient("https://"+host+":"+port, strings.TrimSpace(string(token)), ca, nil, false)
}

// FromKubeconfig builds a client for the kubeconfig's current context.
func FromKubeconfig(path string) (*Client, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(raw, &kc); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if len(kc.Contexts) == 0 || len(kc.Clusters) == 0 || len(kc.Users) == 0 {
		return nil, fmt.Errorf("kubeconfig %s: needs a context, a cluster and a user", path)
	}
	ctx := kc.Contexts[0].Context
	for _, c := range kc.Contexts {
		if c.Name == kc.CurrentContext {
			ctx = c.Context
		}
	}
	cl := kc.Clusters[0].Cluster
	for _, c := range kc.Clusters {
		if c.Name == ctx.Cluster {
			cl = c.Cluster
		}
	}
	u := kc.Users[0].User
	for _, x := range kc.Users {
		if x.Name == ctx.User {
			u = x.User
		}
	}
	ca, err := dataOrFile(cl.CAData, cl.CAFile)
	if err != nil {
		return nil, err
	}
	token := u.Token
	if token == "" && u.TokenFile != "" {
		b, err := os.ReadFile(u.TokenFile)
		if err != nil {
			return nil, err
		}
		token = strings.TrimSpace(string(b))
	}
	var certs []tls.Certificate
	cert, err := dataOrFile(u.CertData, u.CertFile)
	if err != nil {
		return nil, err
	}
	if cert != nil {
		key, err := dataOrFile(u.KeyData, u.KeyFile)
		if err != nil {
			return nil, err
		}
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, err
		}
		certs = append(certs, pair)
	}
	return newClient(cl.Server, token, ca, certs, cl.Insecure)
}

func newClient(server, token string, ca []byte, certs []tls.Certificate, insecure bool) (*Client, error) {
	cfg := &tls.Config{Certificates: certs, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}
	if ca != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("kubeconfig: certificate authority holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	return &Client{
		server: strings.TrimRight(server, "/"),
		token:  token,
		http:   &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}},
	}, nil
}

// StatusError is the API server's answer to a failed request.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Message) }

func (c *Client) request(ctx context.Context, method, path string, body []byte, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var st struct{ Message string }
		if json.Unmarshal(b, &st) != nil || st.Message == "" {
			st.Message = strings.TrimSpace(string(b))
		}
		return nil, &StatusError{Code: resp.StatusCode, Message: st.Message}
	}
	return resp, nil
}

// Do sends one request and decodes the JSON answer into out (when not nil).
func (c *Client) Do(ctx context.Context, method, path string, body []byte, contentType string, out any) error {
	resp, err := c.request(ctx, method, path, body, contentType)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Event is one watch event.
type Event struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// Watch streams events of path (a collection URL with its query, without watch=1) from
// resourceVersion until ctx ends, the server closes the stream, or fn fails.
func (c *Client) Watch(ctx context.Context, path, resourceVersion string, fn func(Event) error) error {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	url := fmt.Sprintf("%s%swatch=1&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=%s",
		path, sep, int((5 * time.Minute).Seconds()), resourceVersion)
	resp, err := c.request(ctx, http.MethodGet, url, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return sc.Err()
}
