package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"

	"github.com/vishvananda/netlink"

	"github.com/centaurus/centaurus/agent/internal/dataplane"
)

// Egress: a packet for an address outside every subnet of its VPC leaves the pod through the
// gateway into the node's own stack, its source rewritten (from_pod) to the pod's unique
// egress address. The node reaches itself directly and masquerades the egress range towards
// anything further (the API server); replies come back to the egress address, routed to the
// pod's veth, where to_pod restores the pod's own address. The addresses are unique per node,
// so VPCs with overlapping CIDRs share it.

// egressHost turns forwarding on and installs the masquerade rule, in the host namespace
// (the caller's thread is there; the iptables child inherits it).
func egressHost() error {
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return err
	}
	rule := []string{"POSTROUTING", "-s", dataplane.EgressRange, "!", "-o", "vc+", "-m", "comment", "--comment", "centaurus egress", "-j", "MASQUERADE"}
	if exec.Command("iptables", append([]string{"-w", "-t", "nat", "-C"}, rule...)...).Run() == nil {
		return nil
	}
	out, err := exec.Command("iptables", append([]string{"-w", "-t", "nat", "-A"}, rule...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables masquerade: %v: %s", err, out)
	}
	return nil
}

// egressRoute routes the pod's egress address to its veth, with a permanent neighbour entry
// (the address is not the pod's, so the pod would not answer ARP for it).
func egressRoute(nl *netlink.Handle, l netlink.Link, mac [6]byte) error {
	ip := net.IP(dataplane.EgressIP(l.Attrs().Index).AsSlice())
	if err := nl.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: &net.IPNet{IP: ip, Mask: net.CIDRMask(32, 32)}, Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("egress route for %s: %w", l.Attrs().Name, err)
	}
	if err := nl.NeighSet(&netlink.Neigh{LinkIndex: l.Attrs().Index, State: netlink.NUD_PERMANENT, IP: ip, HardwareAddr: net.HardwareAddr(mac[:])}); err != nil {
		return fmt.Errorf("egress neighbour for %s: %w", l.Attrs().Name, err)
	}
	return nil
}
