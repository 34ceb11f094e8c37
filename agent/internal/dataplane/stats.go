package dataplane

import (
	"errors"

	"github.com/cilium/ebpf"
)

// PolicyCounts are one local interface's packets: allowed and denied by its ingress and
// egress checks (EPC_* in dataplane.c).
type PolicyCounts struct {
	IngressAllowed, IngressDenied, EgressAllowed, EgressDenied uint64
}

// syncStats gives every local interface a counter entry (kept when it exists, so counts
// survive reconciles and agent restarts) and removes the entries of interfaces that are gone.
func (d *Dataplane) syncStats(ifindexes map[uint32]bool) error {
	m := d.objs.EpStats
	var k uint32
	var per []bpfEpCounters
	var stale []uint32
	it := m.Iterate()
	for it.Next(&k, &per) {
		if !ifindexes[k] {
			stale = append(stale, k)
		}
	}
	errs := []error{it.Err()}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		}
	}
	zero := make([]bpfEpCounters, ebpf.MustPossibleCPU())
	for k := range ifindexes {
		if err := m.Update(k, zero, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// PolicyCounters sums every local interface's counters over the CPUs, by ifindex.
func (d *Dataplane) PolicyCounters() (map[uint32]PolicyCounts, error) {
	out := map[uint32]PolicyCounts{}
	var k uint32
	var per []bpfEpCounters
	it := d.objs.EpStats.Iterate()
	for it.Next(&k, &per) {
		var c PolicyCounts
		for _, v := range per {
			c.IngressAllowed += v.C[0]
			c.IngressDenied += v.C[1]
			c.EgressAllowed += v.C[2]
			c.EgressDenied += v.C[3]
		}
		out[k] = c
	}
	return out, it.Err()
}
