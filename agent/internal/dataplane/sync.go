package dataplane

import (
	"errors"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/centaurus/centaurus/agent/internal/program"
)

// LocalIf is a local endpoint resolved to its host-side veth.
type LocalIf struct {
	Key      program.EndpointKey
	Ifindex  int
	MAC      [6]byte
	SubnetID uint32
}

// Sizes are the entries in each map after a sync.
type Sizes struct {
	Endpoints       int `json:"endpoints"`
	Subnets         int `json:"subnets"`
	LocalInterfaces int `json:"localInterfaces"`
}

// Changes counts the entries a sync wrote or deleted (incremental: equal entries are left).
type Changes struct{ Written, Deleted int }

// syncMap makes m hold exactly want: entries equal to the current ones are not written.
func syncMap[K comparable, V comparable](m *ebpf.Map, want map[K]V, ch *Changes) (int, error) {
	var k K
	var v V
	var stale []K
	have := map[K]V{}
	it := m.Iterate()
	for it.Next(&k, &v) {
		have[k] = v
		if _, ok := want[k]; !ok {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return 0, err
	}
	var errs []error
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		} else {
			ch.Deleted++
		}
	}
	for k, v := range want {
		if cur, ok := have[k]; ok && cur == v {
			continue
		}
		if err := m.Put(k, v); err != nil {
			errs = append(errs, err)
		} else {
			ch.Written++
		}
	}
	return len(want), errors.Join(errs...)
}

func flag(b bool, f uint32) uint32 {
	if b {
		return f
	}
	return 0
}

func addr(a netip.Addr) uint32 {
	if !a.IsValid() {
		return 0
	}
	return ip4(a)
}

// Sync writes the desired entries: subnets, remote endpoints and the resolved local ones.
func (d *Dataplane) Sync(want program.Desired, locals []LocalIf) (Sizes, Changes, error) {
	var ch Changes
	subnets := map[bpfSubnetKey]bpfSubnetVal{}
	for k, s := range want.Subnets {
		subnets[bpfSubnetKey{Prefixlen: 32 + uint32(k.Prefix.Bits()), Vni: htonl(k.VNI), Ip: ip4(k.Prefix.Addr())}] = bpfSubnetVal{
			Id: s.ID, Bouncer: addr(s.Bouncer), Divider: addr(s.Divider),
			Flags: flag(s.BouncerSelf, 1) | flag(s.DividerSelf, 2) | flag(s.VPCOnly, 4),
		}
	}
	eps := map[bpfEpKey]bpfEpVal{}
	for k, host := range want.Remote {
		eps[bpfEpKey{Vni: k.VNI, Ip: ip4(k.IP)}] = bpfEpVal{Host: ip4(host)}
	}
	ifs := map[uint32]bpfLocalIf{}
	for _, l := range locals {
		eps[bpfEpKey{Vni: l.Key.VNI, Ip: ip4(l.Key.IP)}] = bpfEpVal{Flags: 1, Ifindex: uint32(l.Ifindex), Mac: l.MAC}
		ifs[uint32(l.Ifindex)] = bpfLocalIf{Vni: l.Key.VNI, Ip: ip4(l.Key.IP), SubnetId: l.SubnetID, EgressIp: ip4(EgressIP(l.Ifindex))}
	}
	var sz Sizes
	var err1, err2, err3 error
	// Local interfaces first: a new pod's source check passes before its peers learn it.
	sz.LocalInterfaces, err1 = syncMap(d.objs.LocalIfs, ifs, &ch)
	sz.Subnets, err2 = syncMap(d.objs.Subnets, subnets, &ch)
	sz.Endpoints, err3 = syncMap(d.objs.Endpoints, eps, &ch)
	return sz, ch, errors.Join(err1, err2, err3)
}
