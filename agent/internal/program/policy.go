package program

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/netip"
	"sort"
)

// Rule is one compiled allow rule of a direction (controllers/network/policy.ts CompiledRule):
// peer sets by id, ipBlocks, and numeric ports (named ports are resolved by the compiler).
type Rule struct {
	Policy   string    `json:"policy"`
	AnyPeer  bool      `json:"anyPeer"`
	PeerSets []int     `json:"peerSets"`
	IPBlocks []IPBlock `json:"ipBlocks"`
	AnyPort  bool      `json:"anyPort"`
	Ports    []Port    `json:"ports"`
}

type IPBlock struct {
	CIDR   string   `json:"cidr"`
	Except []string `json:"except"`
}

type Port struct {
	Protocol string `json:"protocol"`
	Port     any    `json:"port,omitempty"` // a number; a name left unresolved matches nothing
	EndPort  int    `json:"endPort,omitempty"`
}

// Protocol numbers as the kernel program keys them; 0 is every other protocol (ICMP...),
// allowed only by rules without ports.
const (
	ProtoOther = 0
	ProtoTCP   = 6
	ProtoUDP   = 17
	ProtoSCTP  = 132
)

var protocols = map[string]uint32{"TCP": ProtoTCP, "UDP": ProtoUDP, "SCTP": ProtoSCTP}

// MaxRanges is how many port ranges one (set, protocol, prefix) entry holds (POL_RANGES in C).
const MaxRanges = 16

type PortRange struct{ Lo, Hi uint16 }

// PolicyKey is one entry of an allow set: the peers in Prefix, for protocol Proto.
type PolicyKey struct {
	Set    uint32
	Proto  uint32
	Prefix netip.Prefix
}

// AllowSets are the kernel's allow sets: set id → entries, plus what did not fit.
type AllowSets struct {
	Entries map[PolicyKey][]PortRange
	Errors  []string
}

// element is one peer of one rule: a prefix less its excepts, with the rule's ports.
type element struct {
	prefix netip.Prefix
	except []netip.Prefix
	ports  map[uint32][]PortRange
}

// lenientPrefix reads a CIDR as upstream does (host bits ignored); IPv6 never matches IPv4.
func lenientPrefix(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

func portsOf(r Rule) map[uint32][]PortRange {
	all := []PortRange{{0, 65535}}
	if r.AnyPort {
		return map[uint32][]PortRange{ProtoOther: all, ProtoTCP: all, ProtoUDP: all, ProtoSCTP: all}
	}
	out := map[uint32][]PortRange{}
	for _, p := range r.Ports {
		proto, ok := protocols[p.Protocol]
		if !ok {
			continue
		}
		if p.Port == nil {
			out[proto] = append(out[proto], all...)
			continue
		}
		n, ok := p.Port.(float64)
		if !ok || n < 1 || n > 65535 {
			continue // an unresolved named port matches nothing
		}
		hi := int(n)
		if p.EndPort >= hi {
			hi = p.EndPort
		}
		out[proto] = append(out[proto], PortRange{uint16(n), uint16(min(hi, 65535))})
	}
	return out
}

func elements(rules []Rule, peerSets [][]string) []element {
	var out []element
	for _, r := range rules {
		ports := portsOf(r)
		if len(ports) == 0 {
			continue
		}
		if r.AnyPeer {
			out = append(out, element{prefix: netip.MustParsePrefix("0.0.0.0/0"), ports: ports})
		}
		for _, id := range r.PeerSets {
			if id < 0 || id >= len(peerSets) {
				continue
			}
			for _, ip := range peerSets[id] {
				if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
					out = append(out, element{prefix: netip.PrefixFrom(a, 32), ports: ports})
				}
			}
		}
		for _, b := range r.IPBlocks {
			p, ok := lenientPrefix(b.CIDR)
			if !ok {
				continue
			}
			e := element{prefix: p, ports: ports}
			for _, x := range b.Except {
				if xp, ok := lenientPrefix(x); ok {
					e.except = append(e.except, xp)
				}
			}
			out = append(out, e)
		}
	}
	return out
}

func covers(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// MergeRanges sorts and joins overlapping or adjacent ranges.
func MergeRanges(rs []PortRange) []PortRange {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Lo < rs[j].Lo })
	var out []PortRange
	for _, r := range rs {
		if n := len(out); n > 0 && uint32(r.Lo) <= uint32(out[n-1].Hi)+1 {
			out[n-1].Hi = max(out[n-1].Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// setContent is what a direction's allow set depends on: its rules and the peers they name.
func setContent(rules []Rule, peerSets [][]string) string {
	peers := map[int][]string{}
	for _, r := range rules {
		for _, id := range r.PeerSets {
			if id >= 0 && id < len(peerSets) {
				peers[id] = peerSets[id]
			}
		}
	}
	b, _ := json.Marshal([]any{rules, peers})
	return string(b)
}

// SetID names an allow set by its content, so that equal directions share one set and any
// change (a rule, a peer joining a set) gets a new id, written before endpoints flip to it:
// entries are never edited in place, so no moment mixes the old and the new version.
// Never 0 (0: not isolated).
func SetID(content string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(content))
	return h.Sum32() | 1
}

// compileSet folds a rule list into longest-prefix entries: each prefix that appears holds the
// ports of every element that covers it and does not except it, so the longest match alone
// decides. A prefix gets an entry for a protocol whenever a covering element has that
// protocol, so that an except (an entry with no ranges) hides what a wider prefix allows.
func compileSet(set uint32, rules []Rule, peerSets [][]string, out map[PolicyKey][]PortRange) []string {
	els := elements(rules, peerSets)
	var wide []element // not /32: checked against every prefix
	hosts := map[netip.Prefix][]element{}
	prefixes := map[netip.Prefix]bool{}
	for _, e := range els {
		prefixes[e.prefix] = true
		for _, x := range e.except {
			prefixes[x] = true
		}
		if e.prefix.Bits() == 32 {
			hosts[e.prefix] = append(hosts[e.prefix], e)
		} else {
			wide = append(wide, e)
		}
	}
	var errs []string
	for p := range prefixes {
		allowed := map[uint32][]PortRange{}
		seen := map[uint32]bool{}
		for _, e := range append(hosts[p], wide...) {
			if !covers(e.prefix, p) {
				continue
			}
			excepted := false
			for _, x := range e.except {
				excepted = excepted || covers(x, p)
			}
			for proto, rs := range e.ports {
				seen[proto] = true
				if !excepted {
					allowed[proto] = append(allowed[proto], rs...)
				}
			}
		}
		for proto := range seen {
			rs := MergeRanges(allowed[proto])
			if len(rs) > MaxRanges {
				errs = append(errs, fmt.Sprintf("allow set %d: %s needs %d port ranges, at most %d fit (the first %d are enforced)", set, p, len(rs), MaxRanges, MaxRanges))
				rs = rs[:MaxRanges]
			}
			out[PolicyKey{set, proto, p}] = rs
		}
	}
	return errs
}

// CompileAllowSets returns the allow-set id of each local endpoint's directions (0: not
// isolated) and the entries of every set they use.
func CompileAllowSets(locals []LocalEndpoint, peerSets [][]string) (ids map[EndpointKey][2]uint32, sets AllowSets) {
	ids = map[EndpointKey][2]uint32{}
	sets = AllowSets{Entries: map[PolicyKey][]PortRange{}}
	done := map[uint32]string{}
	id := func(d Direction) uint32 {
		if !d.Isolated {
			return 0
		}
		content := setContent(d.Rules, peerSets)
		s := SetID(content)
		for done[s] != "" && done[s] != content { // a hash collision: probe the next id
			s += 2
		}
		if done[s] == "" {
			done[s] = content
			sets.Errors = append(sets.Errors, compileSet(s, d.Rules, peerSets, sets.Entries)...)
		}
		return s
	}
	for _, l := range locals {
		ids[l.Key] = [2]uint32{id(l.Ingress), id(l.Egress)}
	}
	sort.Strings(sets.Errors)
	return ids, sets
}
