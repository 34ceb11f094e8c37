// centaurus-cni is the CNI plugin (spec 1.0: ADD, DEL, CHECK, VERSION) that containerd calls
// for every pod: it waits briefly for the pod's VPCEndpoint (the address the network
// controller claimed), creates the pod's veth with that address and MAC, a /32 with a route
// to the subnet's gateway (a permanent neighbour on the host-side veth, so pods never ARP),
// the MTU less the tunnel's overhead, and asks the node's agent to program it before
// answering. DEL removes the veth (both ends) and tells the agent.
//
// Network configuration (stdin), beside the CNI fields:
//
//	{"kubeconfig": "/etc/centaurus/kubeconfig", "node": "NAME", "mtu": 1500,
//	 "hostNetns": "/run/netns/X" (tests: the "host" is a namespace), "timeoutSeconds": 10}
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

type netConf struct {
	CNIVersion     string `json:"cniVersion"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	Kubeconfig     string `json:"kubeconfig"`
	Node           string `json:"node"`
	MTU            int    `json:"mtu"`
	HostNetns      string `json:"hostNetns"`
	TimeoutSeconds int    `json:"timeoutSeconds"`
	AgentSocket    string `json:"agentSocket"`
}

// cniError is the spec's error result; code 11 is "try again later".
type cniError struct {
	CNIVersion string `json:"cniVersion"`
	Code       int    `json:"code"`
	Msg        string `json:"msg"`
	Details    string `json:"details,omitempty"`
}

func (e *cniError) Error() string { return e.Msg }

const (
	errIncompatible = 1
	errUnsupported  = 2
	errEnv          = 4
	errDecode       = 6
	errInvalidConf  = 7
	errTryLater     = 11
	errInternal     = 999
)

var supported = []string{"0.4.0", "1.0.0", "1.1.0"}

func fail(version string, err error) {
	ce, ok := err.(*cniError)
	if !ok {
		ce = &cniError{Code: errInternal, Msg: err.Error()}
	}
	if version == "" {
		version = "1.0.0"
	}
	ce.CNIVersion = version
	_ = json.NewEncoder(os.Stdout).Encode(ce)
	os.Exit(1)
}

// cniArgs parses CNI_ARGS ("K8S_POD_NAMESPACE=a;K8S_POD_NAME=b;...").
func cniArgs() map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(os.Getenv("CNI_ARGS"), ";") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

func main() {
	cmd := os.Getenv("CNI_COMMAND")
	if cmd == "VERSION" {
		_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"cniVersion": "1.0.0", "supportedVersions": supported})
		return
	}
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("", &cniError{Code: errDecode, Msg: "reading the network configuration: " + err.Error()})
	}
	var conf netConf
	if err := json.Unmarshal(raw, &conf); err != nil {
		fail("", &cniError{Code: errDecode, Msg: "network configuration is not JSON: " + err.Error()})
	}
	ok := false
	for _, v := range supported {
		ok = ok || v == conf.CNIVersion
	}
	if !ok {
		fail("", &cniError{Code: errIncompatible, Msg: fmt.Sprintf("cniVersion %q is not supported (%s)", conf.CNIVersion, strings.Join(supported, ", "))})
	}
	if conf.Node == "" {
		conf.Node, _ = os.Hostname()
	}
	if conf.MTU == 0 {
		conf.MTU = 1500
	}
	if conf.TimeoutSeconds == 0 {
		conf.TimeoutSeconds = 10
	}
	req := request{
		conf: conf, containerID: os.Getenv("CNI_CONTAINERID"), netns: os.Getenv("CNI_NETNS"),
		ifname: os.Getenv("CNI_IFNAME"), args: cniArgs(),
	}
	if req.containerID == "" || req.ifname == "" {
		fail(conf.CNIVersion, &cniError{Code: errEnv, Msg: "CNI_CONTAINERID and CNI_IFNAME are required"})
	}
	req.namespace, req.pod = req.args["K8S_POD_NAMESPACE"], req.args["K8S_POD_NAME"]
	if req.namespace == "" || req.pod == "" {
		fail(conf.CNIVersion, &cniError{Code: errEnv, Msg: "CNI_ARGS must name K8S_POD_NAMESPACE and K8S_POD_NAME"})
	}
	switch cmd {
	case "ADD":
		err = add(req)
	case "DEL":
		err = del(req)
	case "CHECK":
		err = check(req)
	default:
		err = &cniError{Code: errUnsupported, Msg: fmt.Sprintf("unknown CNI_COMMAND %q", cmd)}
	}
	if err != nil {
		fail(conf.CNIVersion, err)
	}
}
