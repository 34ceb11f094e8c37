package program

import (
	"fmt"
	"math/rand"
	"net/netip"
	"testing"
	"time"
)

// A node with 250 pods of a 5,000-pod namespace under 200 policies (peer sets of 500 pods,
// three policies per pod and direction): the allow sets must fit the kernel's policy map,
// and compile in well under a reconcile.
func TestAllowSetsAtScale(t *testing.T) {
	rnd := rand.New(rand.NewSource(46189))
	pod := func(i int) string { return netip.AddrFrom4([4]byte{10, 20, byte(i >> 8), byte(i)}).String() }
	peers := make([][]string, 200)
	for s := range peers {
		for j := 0; j < 500; j++ {
			peers[s] = append(peers[s], pod(rnd.Intn(5000)))
		}
	}
	rules := func() []Rule {
		var out []Rule
		for k := 0; k < 3; k++ {
			out = append(out, Rule{Policy: fmt.Sprint(rnd.Intn(200)), PeerSets: []int{rnd.Intn(200)},
				Ports: []Port{{Protocol: "TCP", Port: float64(8000 + rnd.Intn(10))}}})
		}
		return out
	}
	// Pods of one deployment share their policies: 25 distinct rule lists over 250 pods.
	kinds := make([]Direction, 25)
	for i := range kinds {
		kinds[i] = Direction{Isolated: true, Rules: rules()}
	}
	var locals []LocalEndpoint
	for i := 0; i < 250; i++ {
		k := kinds[i%25]
		locals = append(locals, LocalEndpoint{Endpoint: Endpoint{Ingress: k, Egress: kinds[(i+7)%25]},
			Key: EndpointKey{1, netip.MustParseAddr(pod(i))}})
	}
	start := time.Now()
	ids, sets := CompileAllowSets(locals, peers)
	took := time.Since(start)
	t.Logf("250 endpoints, 200 policies: %d allow sets, %d entries, compiled in %v", len(distinct(ids)), len(sets.Entries), took)
	if len(sets.Errors) != 0 || len(sets.Entries) > 1048576 {
		t.Fatalf("must fit: %d entries, errors %v", len(sets.Entries), sets.Errors)
	}
	if len(distinct(ids)) != 25 {
		t.Fatalf("pods with the same policies share one set: %d sets", len(distinct(ids)))
	}
	if took > 5*time.Second {
		t.Fatalf("compiling took %v", took)
	}
}

func distinct(ids map[EndpointKey][2]uint32) map[uint32]bool {
	out := map[uint32]bool{}
	for _, v := range ids {
		out[v[0]], out[v[1]] = true, true
	}
	return out
}
