package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/centaurus/centaurus/agent/internal/encap"
	"github.com/centaurus/centaurus/agent/internal/kube"
	"github.com/centaurus/centaurus/agent/internal/names"
)

type request struct {
	conf                       netConf
	containerID, netns, ifname string
	args                       map[string]string
	namespace, pod             string
}

type endpoint struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Subnet    string `json:"subnet"`
		VNI       int    `json:"vni"`
		IP        string `json:"ip"`
		MAC       string `json:"mac"`
		Interface string `json:"interface"`
		Pod       struct {
			Name string `json:"name"`
		} `json:"pod"`
	} `json:"spec"`
}

const group = "/apis/network.centaurus.io/v1alpha1"

func (r request) key() string { return r.namespace + "/" + r.pod + "/" + r.ifname }

// waitEndpoint polls for the pod's VPCEndpoint: the controller writes it once the pod is
// scheduled, which may be a moment after containerd starts the sandbox.
func waitEndpoint(ctx context.Context, c *kube.Client, r request) (*endpoint, string, error) {
	var last error
	for ctx.Err() == nil {
		var list struct{ Items []endpoint }
		last = c.Do(ctx, "GET", fmt.Sprintf("%s/namespaces/%s/vpcendpoints", group, r.namespace), nil, "", &list)
		for i := range list.Items {
			e := &list.Items[i]
			if e.Spec.Pod.Name == r.pod && e.Spec.Interface == r.ifname && e.Spec.IP != "" {
				var sn struct {
					Spec   struct{ Gateway string }
					Status struct{ Gateway string }
				}
				if err := c.Do(ctx, "GET", group+"/subnets/"+e.Spec.Subnet, nil, "", &sn); err != nil {
					last = err
					break
				}
				gw := sn.Status.Gateway
				if gw == "" {
					gw = sn.Spec.Gateway
				}
				if gw != "" {
					return e, gw, nil
				}
				last = fmt.Errorf("subnet %s has no gateway yet", e.Spec.Subnet)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	msg := fmt.Sprintf("no VPCEndpoint for pod %s/%s interface %s after %ds: is the pod's subnet Ready and the network controller running?",
		r.namespace, r.pod, r.ifname, r.conf.TimeoutSeconds)
	details := ""
	if last != nil {
		details = last.Error()
	}
	return nil, "", &cniError{Code: errTryLater, Msg: msg, Details: details}
}

func handles(r request) (host *netlink.Handle, pod *netlink.Handle, podNS netns.NsHandle, err error) {
	host, err = netlink.NewHandle()
	if r.conf.HostNetns != "" {
		h, e := netns.GetFromPath(r.conf.HostNetns)
		if e != nil {
			return nil, nil, 0, &cniError{Code: errInvalidConf, Msg: "hostNetns: " + e.Error()}
		}
		defer h.Close()
		host, err = netlink.NewHandleAt(h)
	}
	if err != nil || r.netns == "" {
		return host, nil, 0, err
	}
	podNS, err = netns.GetFromPath(r.netns)
	if err != nil {
		return nil, nil, 0, &cniError{Code: errEnv, Msg: "CNI_NETNS: " + err.Error()}
	}
	pod, err = netlink.NewHandleAt(podNS)
	return host, pod, podNS, err
}

func client(r request) (*kube.Client, error) {
	if r.conf.Kubeconfig == "" {
		return kube.InCluster()
	}
	c, err := kube.FromKubeconfig(r.conf.Kubeconfig)
	if err != nil {
		return nil, &cniError{Code: errInvalidConf, Msg: err.Error()}
	}
	return c, nil
}

func add(r request) error {
	if r.netns == "" {
		return &cniError{Code: errEnv, Msg: "CNI_NETNS is required for ADD"}
	}
	c, err := client(r)
	if err != nil {
		return err
	}
	timeout := time.Duration(r.conf.TimeoutSeconds) * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ep, gwStr, err := waitEndpoint(ctx, c, r)
	if err != nil {
		return err
	}
	ip, gw := net.ParseIP(ep.Spec.IP).To4(), net.ParseIP(gwStr).To4()
	mac, merr := net.ParseMAC(ep.Spec.MAC)
	if ip == nil || gw == nil || merr != nil {
		return &cniError{Code: errInternal, Msg: fmt.Sprintf("VPCEndpoint %s/%s: bad ip %q, gateway %q or mac %q", r.namespace, ep.Metadata.Name, ep.Spec.IP, gwStr, ep.Spec.MAC)}
	}
	host, pod, podNS, err := handles(r)
	if err != nil {
		return err
	}
	defer podNS.Close()
	veth := names.VethName(r.namespace, r.pod, r.ifname)
	if old, err := host.LinkByName(veth); err == nil {
		_ = host.LinkDel(old) // a retried ADD starts over
	}
	gwMAC, _ := net.ParseMAC(names.GatewayMAC)
	enc, _ := encap.New("vxlan")
	mtu := r.conf.MTU - enc.Overhead()
	if err := host.LinkAdd(&netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: veth, MTU: mtu, HardwareAddr: gwMAC},
		PeerName:  r.ifname, PeerHardwareAddr: mac, PeerNamespace: netlink.NsFd(podNS),
	}); err != nil {
		return fmt.Errorf("create veth %s/%s: %w", veth, r.ifname, err)
	}
	result, err := configure(host, pod, veth, r.ifname, ip, gw, gwMAC, mtu)
	if err == nil {
		result["interfaces"].([]map[string]any)[1]["sandbox"] = r.netns
	}
	if err == nil {
		err = askAgent(r, timeout, true)
	}
	if err != nil {
		if l, lerr := host.LinkByName(veth); lerr == nil {
			_ = host.LinkDel(l)
		}
		return err
	}
	result["cniVersion"] = r.conf.CNIVersion
	return json.NewEncoder(os.Stdout).Encode(result)
}

func configure(host, pod *netlink.Handle, veth, ifname string, ip, gw net.IP, gwMAC net.HardwareAddr, mtu int) (map[string]any, error) {
	hl, err := host.LinkByName(veth)
	if err != nil {
		return nil, err
	}
	if err := host.LinkSetUp(hl); err != nil {
		return nil, err
	}
	pl, err := pod.LinkByName(ifname)
	if err != nil {
		return nil, err
	}
	steps := []func() error{
		func() error { return pod.LinkSetMTU(pl, mtu) },
		func() error {
			return pod.AddrAdd(pl, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(32, 32)}})
		},
		func() error { return pod.LinkSetUp(pl) },
		func() error {
			lo, err := pod.LinkByName("lo")
			if err != nil {
				return err
			}
			return pod.LinkSetUp(lo)
		},
		func() error {
			return pod.RouteAdd(&netlink.Route{LinkIndex: pl.Attrs().Index, Dst: &net.IPNet{IP: gw, Mask: net.CIDRMask(32, 32)}, Scope: netlink.SCOPE_LINK})
		},
		func() error { return pod.RouteAdd(&netlink.Route{LinkIndex: pl.Attrs().Index, Gw: gw}) },
		func() error {
			return pod.NeighSet(&netlink.Neigh{LinkIndex: pl.Attrs().Index, State: netlink.NUD_PERMANENT, IP: gw, HardwareAddr: gwMAC})
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, fmt.Errorf("configure %s: %w", ifname, err)
		}
	}
	return map[string]any{
		"interfaces": []map[string]any{
			{"name": veth, "mac": gwMAC.String()},
			{"name": ifname, "mac": pl.Attrs().HardwareAddr.String(), "sandbox": ""},
		},
		"ips":    []map[string]any{{"address": ip.String() + "/32", "gateway": gw.String(), "interface": 1}},
		"routes": []map[string]any{{"dst": "0.0.0.0/0", "gw": gw.String()}},
		"dns":    map[string]any{},
	}, nil
}

// askAgent has the node's agent reconcile now; for ADD, until it reports the endpoint
// programmed (the NodeProgram may list it a moment after the VPCEndpoint exists).
func askAgent(r request, timeout time.Duration, wantProgrammed bool) error {
	sock := r.conf.AgentSocket
	if sock == "" {
		sock = names.Socket(r.conf.Node)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: timeout}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := hc.Post("http://agent/sync", "application/json", nil)
		if err != nil {
			last = err
		} else {
			var res struct{ Local, Errors []string }
			err = json.NewDecoder(resp.Body).Decode(&res)
			resp.Body.Close()
			if err == nil && (!wantProgrammed || slices.Contains(res.Local, r.key())) {
				return nil
			}
			last = errors.New("the agent has not programmed it yet")
			if len(res.Errors) > 0 {
				last = fmt.Errorf("agent errors: %v", res.Errors)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &cniError{Code: errTryLater, Msg: fmt.Sprintf("the agent for node %s did not program %s within %s", r.conf.Node, r.key(), timeout), Details: fmt.Sprint(last)}
}

func del(r request) error {
	host, _, podNS, err := handles(request{conf: r.conf})
	if err != nil {
		return err
	}
	_ = podNS
	if l, err := host.LinkByName(names.VethName(r.namespace, r.pod, r.ifname)); err == nil {
		if err := host.LinkDel(l); err != nil {
			return fmt.Errorf("delete veth: %w", err)
		}
	}
	// Best effort: the agent also notices on its next resync.
	_ = askAgent(r, 2*time.Second, false)
	return nil
}

func check(r request) error {
	host, pod, podNS, err := handles(r)
	if err != nil {
		return err
	}
	defer podNS.Close()
	if _, err := host.LinkByName(names.VethName(r.namespace, r.pod, r.ifname)); err != nil {
		return &cniError{Code: errInternal, Msg: fmt.Sprintf("host-side veth of %s is missing", r.key())}
	}
	if pod == nil {
		return &cniError{Code: errEnv, Msg: "CNI_NETNS is required for CHECK"}
	}
	pl, err := pod.LinkByName(r.ifname)
	if err != nil {
		return &cniError{Code: errInternal, Msg: fmt.Sprintf("%s is missing in %s", r.ifname, r.netns)}
	}
	addrs, err := pod.AddrList(pl, netlink.FAMILY_V4)
	if err != nil || len(addrs) == 0 {
		return &cniError{Code: errInternal, Msg: fmt.Sprintf("%s has no IPv4 address", r.ifname)}
	}
	return nil
}
