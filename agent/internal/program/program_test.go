package program

import (
	"net/netip"
	"testing"
)

func spec() Spec {
	return Spec{
		Node:  "h1",
		Hosts: map[string]string{"h1": "10.0.0.1", "h2": "10.0.0.2", "h3": "10.0.0.3"},
		Networks: []Network{{
			VNI: 7, VPC: "a", CIDR: "10.9.0.0/16", Dividers: []string{"h2"},
			Subnets: []Subnet{
				{Name: "s1", CIDR: "10.9.1.0/24", Gateway: "10.9.1.1", Bouncers: []string{"h1"}},
				{Name: "s2", CIDR: "10.9.2.0/24", Gateway: "10.9.2.1", Bouncers: []string{"h3"}},
			},
			RemoteEndpoints: map[string]string{"10.9.1.2": "h1", "10.9.1.3": "h2", "10.9.1.4": "nowhere"},
		}},
		LocalEndpoints: []Endpoint{{Namespace: "n", Name: "p", Pod: "p", Interface: "eth0", IP: "10.9.1.2", VNI: 7, Subnet: "s1"}},
	}
}

func TestCompileRolesAndEndpoints(t *testing.T) {
	d := Compile(spec())
	s1 := d.Subnets[SubnetKey{7, netip.MustParsePrefix("10.9.1.0/24")}]
	if !s1.BouncerSelf || s1.DividerSelf || s1.Divider != netip.MustParseAddr("10.0.0.2") {
		t.Fatalf("s1: this node bounces, h2 divides: %+v", s1)
	}
	s2 := d.Subnets[SubnetKey{7, netip.MustParsePrefix("10.9.2.0/24")}]
	if s2.BouncerSelf || s2.Bouncer != netip.MustParseAddr("10.0.0.3") {
		t.Fatalf("s2 bounces on h3: %+v", s2)
	}
	if vpc := d.Subnets[SubnetKey{7, netip.MustParsePrefix("10.9.0.0/16")}]; !vpc.VPCOnly {
		t.Fatalf("the VPC's CIDR is held, so that its unused addresses never leave: %+v", vpc)
	}
	if len(d.Remote) != 1 || d.Remote[EndpointKey{7, netip.MustParseAddr("10.9.1.3")}] != netip.MustParseAddr("10.0.0.2") {
		t.Fatalf("remote: only h2's endpoint (the local one comes from localEndpoints): %v", d.Remote)
	}
	if len(d.Errors) != 1 {
		t.Fatalf("an endpoint on a node without an address is reported: %v", d.Errors)
	}
	if len(d.Local) != 1 || d.Local[0].SubnetID != s1.ID || s1.ID == s2.ID || s1.ID == 0 {
		t.Fatalf("local endpoint carries its subnet's id: %+v", d.Local)
	}
}

func TestSameCIDRInTwoVNIsStaysApart(t *testing.T) {
	s := spec()
	other := s.Networks[0]
	other.VNI = 8
	other.RemoteEndpoints = map[string]string{"10.9.1.3": "h3"}
	s.Networks = append(s.Networks, other)
	d := Compile(s)
	if d.Remote[EndpointKey{7, netip.MustParseAddr("10.9.1.3")}] == d.Remote[EndpointKey{8, netip.MustParseAddr("10.9.1.3")}] {
		t.Fatalf("one address in two VNIs maps to two hosts: %v", d.Remote)
	}
	if SubnetID(7, "s1") == SubnetID(8, "s1") {
		t.Fatal("subnet ids differ per VNI")
	}
}
