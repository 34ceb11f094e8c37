// Package program turns a NodeProgram (docs/networking.md, controllers/network/api.ts) into
// the entries the data plane's maps must hold. Pure: no kernel, no API server.
package program

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"sort"
)

type Direction struct {
	Isolated bool     `json:"isolated"`
	Policies []string `json:"policies"`
	Rules    []Rule   `json:"rules"`
}

type Endpoint struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Pod       string    `json:"pod"`
	Interface string    `json:"interface"`
	IP        string    `json:"ip"`
	MAC       string    `json:"mac"`
	VNI       uint32    `json:"vni"`
	VPC       string    `json:"vpc"`
	Subnet    string    `json:"subnet"`
	Ingress   Direction `json:"ingress"`
	Egress    Direction `json:"egress"`
}

type Subnet struct {
	Name     string   `json:"name"`
	CIDR     string   `json:"cidr"`
	Gateway  string   `json:"gateway"`
	Bouncers []string `json:"bouncers"`
}

type Network struct {
	VNI             uint32            `json:"vni"`
	VPC             string            `json:"vpc"`
	CIDR            string            `json:"cidr"`
	Subnets         []Subnet          `json:"subnets"`
	Dividers        []string          `json:"dividers"`
	RemoteEndpoints map[string]string `json:"remoteEndpoints"`
}

type Spec struct {
	Node           string            `json:"node"`
	Hosts          map[string]string `json:"hosts"`
	Networks       []Network         `json:"networks"`
	LocalEndpoints []Endpoint        `json:"localEndpoints"`
	PeerSets       [][]string        `json:"peerSets"`
}

type NodeProgram struct {
	Metadata struct {
		Name            string `json:"name"`
		Generation      int64  `json:"generation"`
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Spec   Spec            `json:"spec"`
	Status *map[string]any `json:"status,omitempty"`
}

// SubnetKey is a subnet of one VNI.
type SubnetKey struct {
	VNI    uint32
	Prefix netip.Prefix
}

type SubnetEntry struct {
	ID          uint32
	Bouncer     netip.Addr // invalid when this node is the bouncer or none is known
	Divider     netip.Addr
	BouncerSelf bool
	DividerSelf bool
	// VPCOnly marks the VPC's CIDR itself: addresses in the VPC but in no subnet are dropped,
	// never sent out through the node.
	VPCOnly bool
}

type EndpointKey struct {
	VNI uint32
	IP  netip.Addr
}

// LocalEndpoint is a pod interface on this node; the agent resolves Veth to an ifindex.
type LocalEndpoint struct {
	Endpoint
	Key      EndpointKey
	SubnetID uint32
}

// Desired is what the maps must hold for one NodeProgram.
type Desired struct {
	Subnets map[SubnetKey]SubnetEntry
	Remote  map[EndpointKey]netip.Addr // endpoint → its node's underlay address
	Local   []LocalEndpoint
	Errors  []string
	// The program's peer sets (the allow sets' rules name them by index).
	PeerSets [][]string
}

// SubnetID is stable per (VNI, subnet name), so a restarted agent computes the same ids.
func SubnetID(vni uint32, name string) uint32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%s", vni, name)
	return h.Sum32() | 1 // never 0: 0 means "from the tunnel"
}

// pick chooses the role holder to send to: this node when it holds the role, else the
// first one with a known address (the controller sorts them).
func pick(self string, nodes []string, hosts map[string]string) (netip.Addr, bool) {
	for _, n := range nodes {
		if n == self {
			return netip.Addr{}, true
		}
	}
	for _, n := range nodes {
		if a, err := netip.ParseAddr(hosts[n]); err == nil {
			return a, false
		}
	}
	return netip.Addr{}, false
}

// Compile turns a spec into map entries; entries it cannot build are reported, not fatal.
func Compile(s Spec) Desired {
	d := Desired{Subnets: map[SubnetKey]SubnetEntry{}, Remote: map[EndpointKey]netip.Addr{}, PeerSets: s.PeerSets}
	ids := map[string]uint32{}
	for _, n := range s.Networks {
		divider, dividerSelf := pick(s.Node, n.Dividers, s.Hosts)
		if p, err := netip.ParsePrefix(n.CIDR); err == nil && p.Addr().Is4() {
			d.Subnets[SubnetKey{n.VNI, p.Masked()}] = SubnetEntry{VPCOnly: true}
		}
		for _, sn := range n.Subnets {
			p, err := netip.ParsePrefix(sn.CIDR)
			if err != nil || !p.Addr().Is4() {
				d.Errors = append(d.Errors, fmt.Sprintf("subnet %s: bad CIDR %q", sn.Name, sn.CIDR))
				continue
			}
			bouncer, bouncerSelf := pick(s.Node, sn.Bouncers, s.Hosts)
			id := SubnetID(n.VNI, sn.Name)
			ids[fmt.Sprintf("%d/%s", n.VNI, sn.Name)] = id
			d.Subnets[SubnetKey{n.VNI, p.Masked()}] = SubnetEntry{
				ID: id, Bouncer: bouncer, Divider: divider, BouncerSelf: bouncerSelf, DividerSelf: dividerSelf,
			}
		}
		for ip, node := range n.RemoteEndpoints {
			if node == s.Node {
				continue // local: programmed from localEndpoints
			}
			a, err := netip.ParseAddr(ip)
			host, herr := netip.ParseAddr(s.Hosts[node])
			if err != nil || herr != nil {
				d.Errors = append(d.Errors, fmt.Sprintf("remote endpoint %s on %s: no underlay address", ip, node))
				continue
			}
			d.Remote[EndpointKey{n.VNI, a}] = host
		}
	}
	for _, e := range s.LocalEndpoints {
		a, err := netip.ParseAddr(e.IP)
		if err != nil || !a.Is4() {
			d.Errors = append(d.Errors, fmt.Sprintf("endpoint %s/%s: bad address %q", e.Namespace, e.Name, e.IP))
			continue
		}
		d.Local = append(d.Local, LocalEndpoint{
			Endpoint: e, Key: EndpointKey{e.VNI, a}, SubnetID: ids[fmt.Sprintf("%d/%s", e.VNI, e.Subnet)],
		})
	}
	sort.Strings(d.Errors)
	return d
}
