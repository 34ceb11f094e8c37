package dataplane

import (
	"errors"
	"fmt"
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
	// Allow sets of the endpoint's ingress and egress (0: not isolated).
	IngressSet, EgressSet uint32
}

// Sizes are the entries in each map after a sync.
type Sizes struct {
	Endpoints       int `json:"endpoints"`
	Subnets         int `json:"subnets"`
	LocalInterfaces int `json:"localInterfaces"`
	PolicyRules     int `json:"policyRules"`
}

// PolicyMapSize is the policy map's max_entries (dataplane.c): a program needing more is
// reported, never silently cut.
const PolicyMapSize = 1048576

// Changes counts the entries a sync wrote or deleted (incremental: equal entries are left).
type Changes struct{ Written, Deleted int }

// syncMap makes m hold exactly want: entries equal to the current ones are not written.
func syncMap[K comparable, V comparable](m *ebpf.Map, want map[K]V, ch *Changes) (int, error) {
	n, deleteStale, err := addMap(m, want, ch)
	return n, errors.Join(err, deleteStale())
}

// addMap writes what want holds and returns, to call later, the deletion of the rest: the
// policy map gets its new sets before endpoints flip to them, and loses the old ones after.
func addMap[K comparable, V comparable](m *ebpf.Map, want map[K]V, ch *Changes) (int, func() error, error) {
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
		return 0, func() error { return nil }, err
	}
	deleteStale := func() error {
		var errs []error
		for _, k := range stale {
			if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				errs = append(errs, err)
			} else {
				ch.Deleted++
			}
		}
		return errors.Join(errs...)
	}
	var errs []error
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
	return len(want), deleteStale, errors.Join(errs...)
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

func policyEntries(sets program.AllowSets) map[bpfPolKey]bpfPolVal {
	out := make(map[bpfPolKey]bpfPolVal, len(sets.Entries))
	for k, rs := range sets.Entries {
		v := bpfPolVal{Count: uint32(len(rs))}
		for i, r := range rs {
			v.Lo[i], v.Hi[i] = r.Lo, r.Hi
		}
		out[bpfPolKey{Prefixlen: 64 + uint32(k.Prefix.Bits()), Set: k.Set, Proto: k.Proto, Ip: ip4(k.Prefix.Addr())}] = v
	}
	return out
}

// Sync writes the desired entries: subnets, remote endpoints, the resolved local ones and
// their allow sets (in that order for policy: new sets, then the endpoints' flip, then the
// old sets' removal).
func (d *Dataplane) Sync(want program.Desired, locals []LocalIf, sets program.AllowSets) (Sizes, Changes, error) {
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
		ifs[uint32(l.Ifindex)] = bpfLocalIf{
			Vni: l.Key.VNI, Ip: ip4(l.Key.IP), SubnetId: l.SubnetID, EgressIp: ip4(EgressIP(l.Ifindex)),
			IngressSet: l.IngressSet, EgressSet: l.EgressSet,
		}
	}
	var sz Sizes
	var err0, err1, err2, err3 error
	pol := policyEntries(sets)
	if len(pol) > PolicyMapSize {
		return sz, ch, fmt.Errorf("policy map full: %d entries needed, %d fit", len(pol), PolicyMapSize)
	}
	var deleteStalePolicy func() error
	sz.PolicyRules, deleteStalePolicy, err0 = addMap(d.objs.Policy, pol, &ch)
	if err0 != nil {
		// Some new set is incomplete: endpoints keep their current sets (never a wider one).
		return sz, ch, fmt.Errorf("policy map: %w", err0)
	}
	// Local interfaces first: a new pod's source check passes before its peers learn it.
	sz.LocalInterfaces, err1 = syncMap(d.objs.LocalIfs, ifs, &ch)
	if err1 == nil {
		err0 = deleteStalePolicy()
	}
	present := make(map[uint32]bool, len(ifs))
	for k := range ifs {
		present[k] = true
	}
	err1 = errors.Join(err1, d.syncStats(present))
	sz.Subnets, err2 = syncMap(d.objs.Subnets, subnets, &ch)
	sz.Endpoints, err3 = syncMap(d.objs.Endpoints, eps, &ch)
	return sz, ch, errors.Join(err0, err1, err2, err3)
}
