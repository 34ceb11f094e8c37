package program

import (
	"fmt"
	"math/rand"
	"net/netip"
	"testing"
)

// lookup is the kernel's longest-prefix match over one set's entries.
func lookup(sets AllowSets, set, proto uint32, ip netip.Addr, port uint16) bool {
	best := -1
	var ranges []PortRange
	for k, rs := range sets.Entries {
		if k.Set == set && k.Proto == proto && k.Prefix.Contains(ip) && k.Prefix.Bits() > best {
			best, ranges = k.Prefix.Bits(), rs
		}
	}
	for _, r := range ranges {
		if port >= r.Lo && port <= r.Hi {
			return true
		}
	}
	return false
}

// reference is NetworkPolicy read directly: some rule matches the peer and the port.
func reference(rules []Rule, peerSets [][]string, proto uint32, ip netip.Addr, port uint16) bool {
	for _, r := range rules {
		ports := portsOf(r)
		okPort := false
		for _, pr := range ports[proto] {
			okPort = okPort || (port >= pr.Lo && port <= pr.Hi)
		}
		if !okPort {
			continue
		}
		if r.AnyPeer {
			return true
		}
		for _, id := range r.PeerSets {
			for _, s := range peerSets[id] {
				if s == ip.String() {
					return true
				}
			}
		}
		for _, b := range r.IPBlocks {
			p, ok := lenientPrefix(b.CIDR)
			if !ok || !p.Contains(ip) {
				continue
			}
			excepted := false
			for _, x := range b.Except {
				if xp, ok := lenientPrefix(x); ok && xp.Contains(ip) {
					excepted = true
				}
			}
			if !excepted {
				return true
			}
		}
	}
	return false
}

func local(in, eg Direction) []LocalEndpoint {
	return []LocalEndpoint{{Endpoint: Endpoint{Ingress: in, Egress: eg}, Key: EndpointKey{1, netip.MustParseAddr("10.0.0.1")}}}
}

func TestAllowSetsFoldRulesAndExcepts(t *testing.T) {
	rules := []Rule{
		{Policy: "a", IPBlocks: []IPBlock{{CIDR: "10.1.0.5/16", Except: []string{"10.1.2.0/24"}}}, Ports: []Port{{Protocol: "TCP", Port: float64(80)}}},
		{Policy: "b", PeerSets: []int{0}, Ports: []Port{{Protocol: "TCP", Port: float64(443)}, {Protocol: "TCP", Port: "http"}}},
		{Policy: "c", IPBlocks: []IPBlock{{CIDR: "fd00::/8"}}, AnyPort: true},
	}
	peers := [][]string{{"10.1.2.7", "10.1.3.3"}}
	ids, sets := CompileAllowSets(local(Direction{Isolated: true, Rules: rules}, Direction{}), peers)
	id := ids[EndpointKey{1, netip.MustParseAddr("10.0.0.1")}]
	if id[0] == 0 || id[1] != 0 {
		t.Fatalf("ingress isolated, egress not: %v", id)
	}
	cases := []struct {
		ip   string
		port uint16
		want bool
	}{
		{"10.1.9.9", 80, true},    // in the block (host bits ignored)
		{"10.1.2.9", 80, false},   // excepted
		{"10.1.2.7", 80, false},   // excepted, and its peer rule allows 443 only
		{"10.1.2.7", 443, true},   // the peer rule
		{"10.1.3.3", 80, true},    // block and peer rule folded into its /32
		{"10.1.3.3", 443, true},   //
		{"10.2.0.1", 80, false},   // outside
		{"10.1.9.9", 8080, false}, // the unresolved named port matches nothing
	}
	for _, c := range cases {
		if got := lookup(sets, id[0], ProtoTCP, netip.MustParseAddr(c.ip), c.port); got != c.want {
			t.Errorf("%s:%d: got %v, want %v", c.ip, c.port, got, c.want)
		}
	}
}

func TestAllowSetsShareAndChangeIDs(t *testing.T) {
	d := Direction{Isolated: true, Rules: []Rule{{Policy: "a", PeerSets: []int{0}, AnyPort: true}}}
	a, _ := CompileAllowSets(local(d, d), [][]string{{"10.0.0.2"}})
	b, _ := CompileAllowSets(local(d, d), [][]string{{"10.0.0.2", "10.0.0.3"}})
	k := EndpointKey{1, netip.MustParseAddr("10.0.0.1")}
	if a[k][0] != a[k][1] || a[k] == b[k] {
		t.Fatalf("equal directions share a set; a new peer means a new set: %v %v", a[k], b[k])
	}
}

func TestAllowSetsAgreeWithReference(t *testing.T) {
	rnd := rand.New(rand.NewSource(14))
	ip := func() netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(rnd.Intn(2)), byte(rnd.Intn(4)), byte(rnd.Intn(8))})
	}
	prefix := func() string { return fmt.Sprintf("%s/%d", ip(), 14+rnd.Intn(19)) }
	for round := 0; round < 200; round++ {
		peers := [][]string{{ip().String(), ip().String()}, {ip().String()}}
		var rules []Rule
		for i := 0; i < 1+rnd.Intn(4); i++ {
			r := Rule{Policy: fmt.Sprint(i), AnyPort: rnd.Intn(4) == 0, AnyPeer: rnd.Intn(8) == 0}
			if rnd.Intn(2) == 0 {
				r.PeerSets = []int{rnd.Intn(2)}
			}
			for j := 0; j < rnd.Intn(3); j++ {
				r.IPBlocks = append(r.IPBlocks, IPBlock{CIDR: prefix(), Except: []string{prefix(), prefix()}[:rnd.Intn(3)]})
			}
			lo := 1 + rnd.Intn(20)
			r.Ports = append(r.Ports, Port{Protocol: []string{"TCP", "UDP"}[rnd.Intn(2)], Port: float64(lo), EndPort: lo + rnd.Intn(3)})
			rules = append(rules, r)
		}
		ids, sets := CompileAllowSets(local(Direction{Isolated: true, Rules: rules}, Direction{}), peers)
		set := ids[EndpointKey{1, netip.MustParseAddr("10.0.0.1")}][0]
		for q := 0; q < 200; q++ {
			a, proto, port := ip(), []uint32{ProtoTCP, ProtoUDP}[rnd.Intn(2)], uint16(rnd.Intn(25))
			if got, want := lookup(sets, set, proto, a, port), reference(rules, peers, proto, a, port); got != want {
				t.Fatalf("round %d: %s proto %d port %d: kernel %v, reference %v\nrules %+v", round, a, proto, port, got, want, rules)
			}
		}
	}
}

func TestAllowSetsReportRangesThatDoNotFit(t *testing.T) {
	var ports []Port
	for i := 0; i < MaxRanges+2; i++ {
		ports = append(ports, Port{Protocol: "TCP", Port: float64(1000 + 2*i)}) // never adjacent
	}
	d := Direction{Isolated: true, Rules: []Rule{{Policy: "many", AnyPeer: true, Ports: ports}}}
	_, sets := CompileAllowSets(local(d, Direction{}), nil)
	if len(sets.Errors) != 1 {
		t.Fatalf("18 port ranges for one prefix are reported, not dropped silently: %v", sets.Errors)
	}
}
