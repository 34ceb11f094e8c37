package dataplane

import (
	"fmt"
	"path/filepath"

	"github.com/cilium/ebpf"
)

// Dump is the content of the pinned maps of one node, for tests and for people debugging.
type Dump struct {
	Endpoints       []DumpEndpoint    `json:"endpoints"`
	Subnets         []DumpSubnet      `json:"subnets"`
	LocalInterfaces []DumpInterface   `json:"localInterfaces"`
	Counters        map[string]uint64 `json:"counters"`
	PolicyEntries   int               `json:"policyEntries"`
	Conntrack       int               `json:"conntrack"`
}

type DumpEndpoint struct {
	VNI     uint32 `json:"vni"`
	IP      string `json:"ip"`
	Local   bool   `json:"local"`
	Ifindex uint32 `json:"ifindex,omitempty"`
	Host    string `json:"host,omitempty"`
}

type DumpSubnet struct {
	VNI     uint32 `json:"vni"`
	CIDR    string `json:"cidr"`
	Bouncer string `json:"bouncer"`
	Divider string `json:"divider"`
	Flags   uint32 `json:"flags"`
}

type DumpInterface struct {
	Ifindex  uint32 `json:"ifindex"`
	VNI      uint32 `json:"vni"`
	IP       string `json:"ip"`
	EgressIP string `json:"egressIP"`
	// Allow sets (0: not isolated).
	IngressSet uint32 `json:"ingressSet"`
	EgressSet  uint32 `json:"egressSet"`
}

func pinned(pinDir, name string) (*ebpf.Map, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, name), nil)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", name, err)
	}
	return m, nil
}

// DumpPinned reads the maps pinned under pinDir (the agent need not run).
func DumpPinned(pinDir string) (*Dump, error) {
	d := &Dump{Endpoints: []DumpEndpoint{}, Subnets: []DumpSubnet{}, LocalInterfaces: []DumpInterface{}, Counters: map[string]uint64{}}
	eps, err := pinned(pinDir, "endpoints")
	if err != nil {
		return nil, err
	}
	defer eps.Close()
	var ek bpfEpKey
	var ev bpfEpVal
	for it := eps.Iterate(); it.Next(&ek, &ev); {
		e := DumpEndpoint{VNI: ek.Vni, IP: fromIP4(ek.Ip).String(), Local: ev.Flags&1 != 0}
		if e.Local {
			e.Ifindex = ev.Ifindex
		} else {
			e.Host = fromIP4(ev.Host).String()
		}
		d.Endpoints = append(d.Endpoints, e)
	}
	sns, err := pinned(pinDir, "subnets")
	if err != nil {
		return nil, err
	}
	defer sns.Close()
	var sk bpfSubnetKey
	var sv bpfSubnetVal
	for it := sns.Iterate(); it.Next(&sk, &sv); {
		d.Subnets = append(d.Subnets, DumpSubnet{
			VNI: htonl(sk.Vni), CIDR: fmt.Sprintf("%s/%d", fromIP4(sk.Ip), sk.Prefixlen-32),
			Bouncer: fromIP4(sv.Bouncer).String(), Divider: fromIP4(sv.Divider).String(), Flags: sv.Flags,
		})
	}
	ifs, err := pinned(pinDir, "local_ifs")
	if err != nil {
		return nil, err
	}
	defer ifs.Close()
	var ik uint32
	var iv bpfLocalIf
	for it := ifs.Iterate(); it.Next(&ik, &iv); {
		d.LocalInterfaces = append(d.LocalInterfaces, DumpInterface{Ifindex: ik, VNI: iv.Vni, IP: fromIP4(iv.Ip).String(), EgressIP: fromIP4(iv.EgressIp).String(),
			IngressSet: iv.IngressSet, EgressSet: iv.EgressSet})
	}
	if d.PolicyEntries, err = countEntries[bpfPolKey, bpfPolVal](pinDir, "policy"); err != nil {
		return nil, err
	}
	if d.Conntrack, err = countEntries[bpfCtKey, bpfCtVal](pinDir, "conntrack"); err != nil {
		return nil, err
	}
	cs, err := pinned(pinDir, "counters")
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	for i, n := range CounterNames {
		var per []uint64
		if err := cs.Lookup(uint32(i), &per); err != nil {
			return nil, err
		}
		for _, v := range per {
			d.Counters[n] += v
		}
	}
	return d, nil
}

func countEntries[K, V any](pinDir, name string) (int, error) {
	m, err := pinned(pinDir, name)
	if err != nil {
		return 0, err
	}
	defer m.Close()
	var k K
	var v V
	n := 0
	it := m.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	return n, it.Err()
}
