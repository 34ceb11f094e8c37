package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/centaurus/centaurus/agent/internal/dataplane"
	"github.com/centaurus/centaurus/agent/internal/encap"
	"github.com/centaurus/centaurus/agent/internal/kube"
	"github.com/centaurus/centaurus/agent/internal/names"
	"github.com/centaurus/centaurus/agent/internal/program"
)

type agent struct {
	o      options
	client *kube.Client
	enc    encap.Encap
	ns     *nsWorker
	dp     *dataplane.Dataplane

	mu      sync.Mutex
	current *program.NodeProgram
	seen    bool // a list answered (current may still be nil: no program yet)

	kick     chan chan result // a reconcile request; the reply says what it did
	attached map[string]int   // link pin name → ifindex attached by this process
	reported string           // the last status written (without timestamps)
	since    map[string]string

	egressReady bool // forwarding and the masquerade rule are in place

	ifEndpoints map[uint32][3]string // ifindex → namespace, pod, interface (for the metrics' labels)
}

type result struct {
	Generation int64    `json:"generation"`
	Pending    []string `json:"pending,omitempty"`
	Local      []string `json:"local,omitempty"` // namespace/pod/interface programmed
	Errors     []string `json:"errors,omitempty"`
	// What the policy maps cannot hold (reported in the PolicyEnforced condition).
	PolicyErrors []string          `json:"policyErrors,omitempty"`
	Sizes        dataplane.Sizes   `json:"maps"`
	Changes      dataplane.Changes `json:"changes"`
	Counts       map[string]int    `json:"endpoints"`
}

func newAgent(o options, c *kube.Client, e encap.Encap, ns *nsWorker, dp *dataplane.Dataplane) *agent {
	return &agent{o: o, client: c, enc: e, ns: ns, dp: dp, kick: make(chan chan result, 64),
		attached: map[string]int{}, since: map[string]string{}}
}

func (a *agent) setProgram(np *program.NodeProgram) {
	a.mu.Lock()
	a.current, a.seen = np, true
	a.mu.Unlock()
	select {
	case a.kick <- nil:
	default:
	}
}

// loop reconciles on every change, every request from the plugin, and every resync period.
func (a *agent) loop(ctx context.Context) {
	t := time.NewTicker(a.o.resync)
	defer t.Stop()
	for {
		var replies []chan result
		select {
		case <-ctx.Done():
			return
		case r := <-a.kick:
			replies = append(replies, r)
		case <-t.C:
		}
		// Batch what queued up meanwhile: one reconcile answers all of them.
		for drained := false; !drained; {
			select {
			case r := <-a.kick:
				replies = append(replies, r)
			default:
				drained = true
			}
		}
		res := a.reconcile(ctx)
		for _, r := range replies {
			if r != nil {
				r <- res
			}
		}
	}
}

func (a *agent) reconcile(ctx context.Context) result {
	a.mu.Lock()
	np, seen := a.current, a.seen
	a.mu.Unlock()
	res := result{Counts: map[string]int{}}
	if !seen {
		res.Errors = []string{"NodeProgram not listed yet"}
		return res
	}
	var spec program.Spec
	if np != nil {
		spec, res.Generation = np.Spec, np.Metadata.Generation
	}
	spec.Node = a.o.node
	want := program.Compile(spec)
	res.Errors = append(res.Errors, want.Errors...)
	err := a.ns.do(func() error { return a.programKernel(want, &res) })
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	sort.Strings(res.Errors)
	if np != nil {
		if err := a.report(ctx, np, res); err != nil {
			log.Printf("status of NodeProgram %s: %v", a.o.node, err)
		}
	}
	return res
}

type hook int

const (
	fromPod hook = iota
	toPod
	fromTunnel
)

// programKernel makes the kernel hold want: the tunnel device and its program, every local
// pod's veth wired, the maps synced, links of vanished interfaces removed. It runs on the
// namespace's thread.
func (a *agent) programKernel(want program.Desired, res *result) error {
	tun, err := a.enc.Ensure(a.ns.nl)
	if err != nil {
		return err
	}
	if err := a.dp.SetTunnel(tun); err != nil {
		return err
	}
	if err := a.attach("tunnel-"+a.enc.Name(), tun, fromTunnel); err != nil {
		return err
	}
	if !a.egressReady {
		if err := egressHost(); err != nil {
			res.Errors = append(res.Errors, "egress: "+err.Error())
		} else {
			a.egressReady = true
		}
	}
	links, err := a.ns.nl.LinkList()
	if err != nil {
		return err
	}
	byName := map[string]netlink.Link{}
	for _, l := range links {
		byName[l.Attrs().Name] = l
	}
	keep := map[string]bool{"tunnel-" + a.enc.Name(): true}
	var locals []dataplane.LocalIf
	byIf := map[uint32][3]string{}
	setIDs, sets := program.CompileAllowSets(want.Local, want.PeerSets)
	res.PolicyErrors = sets.Errors
	for _, e := range want.Local {
		veth := names.VethName(e.Namespace, e.Pod, e.Interface)
		l, ok := byName[veth]
		if !ok {
			res.Pending = append(res.Pending, e.Namespace+"/"+e.Pod+"/"+e.Interface)
			continue
		}
		mac, err := dataplane.ParseMAC(e.MAC)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("endpoint %s/%s: %v", e.Namespace, e.Name, err))
			continue
		}
		if err := a.wirePod(veth, l, mac); err != nil {
			res.Errors = append(res.Errors, err.Error())
			continue
		}
		keep[veth], keep[veth+"-egress"] = true, true
		res.Local = append(res.Local, e.Namespace+"/"+e.Pod+"/"+e.Interface)
		ids := setIDs[e.Key]
		byIf[uint32(l.Attrs().Index)] = [3]string{e.Namespace, e.Pod, e.Interface}
		locals = append(locals, dataplane.LocalIf{
			Key: e.Key, Ifindex: l.Attrs().Index, MAC: mac, SubnetID: e.SubnetID, IngressSet: ids[0], EgressSet: ids[1],
		})
	}
	a.mu.Lock()
	a.ifEndpoints = byIf
	a.mu.Unlock()
	sizes, ch, err := a.dp.Sync(want, locals, sets)
	res.Sizes, res.Changes = sizes, ch
	if len(sets.Entries) > dataplane.PolicyMapSize {
		res.PolicyErrors = append(res.PolicyErrors, fmt.Sprintf("policy map full: %d entries needed, %d fit; endpoints keep their previous allow sets", len(sets.Entries), dataplane.PolicyMapSize))
	}
	if err != nil {
		res.Errors = append(res.Errors, "maps: "+err.Error())
	}
	pinned, err := a.dp.Links()
	if err != nil {
		return err
	}
	for _, p := range pinned {
		if !keep[p] {
			if err := a.dp.Detach(p); err != nil {
				res.Errors = append(res.Errors, err.Error())
			}
			delete(a.attached, p)
		}
	}
	res.Counts["local"] = len(locals)
	res.Counts["remote"] = len(want.Remote)
	res.Counts["pending"] = len(res.Pending)
	return nil
}

// attach attaches once per process and interface; a restarted agent re-attaches every
// pinned link (replacing the program in place, so forwarding never stops).
func (a *agent) attach(name string, ifindex int, h hook) error {
	if a.attached[name] == ifindex {
		return nil
	}
	var err error
	switch h {
	case fromTunnel:
		err = a.dp.AttachFromTunnel(name, ifindex)
	case toPod:
		err = a.dp.AttachToPod(name, ifindex)
	default:
		err = a.dp.AttachFromPod(name, ifindex)
	}
	if err == nil {
		a.attached[name] = ifindex
	}
	return err
}

// wirePod attaches both programs to a pod's host-side veth and gives it its egress address.
func (a *agent) wirePod(veth string, l netlink.Link, mac [6]byte) error {
	if err := a.attach(veth, l.Attrs().Index, fromPod); err != nil {
		return err
	}
	if a.attached[veth+"-egress"] == l.Attrs().Index {
		return nil
	}
	if err := egressRoute(a.ns.nl, l, mac); err != nil {
		return err
	}
	return a.attach(veth+"-egress", l.Attrs().Index, toPod)
}

// serve answers the plugin: POST /sync reconciles now and replies with the result.
func (a *agent) serve(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(a.o.socket), 0o700); err != nil {
		return err
	}
	_ = os.Remove(a.o.socket)
	ln, err := net.Listen("unix", a.o.socket)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", a.metrics)
	mux.HandleFunc("POST /sync", func(w http.ResponseWriter, r *http.Request) {
		reply := make(chan result, 1)
		a.kick <- reply
		select {
		case res := <-reply:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(res)
		case <-r.Context().Done():
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return nil
}

func (a *agent) report(ctx context.Context, np *program.NodeProgram, res result) error {
	ready, reason, msg := "True", "Programmed", fmt.Sprintf("%d local and %d remote endpoints programmed", res.Counts["local"], res.Counts["remote"])
	if len(res.Errors) > 0 {
		ready, reason, msg = "False", "ProgramErrors", strings.Join(res.Errors, "; ")
	}
	status := map[string]any{
		"observedGeneration": np.Metadata.Generation,
		"endpoints":          res.Counts,
		"maps":               res.Sizes,
		"errors":             capped(res.Errors, 50),
		"pending":            capped(res.Pending, 100), // the count is in endpoints.pending
	}
	if len(res.Errors) == 0 {
		status["programmedGeneration"] = np.Metadata.Generation
	}
	key, _ := json.Marshal([]any{status, ready, reason, msg, res.PolicyErrors})
	if string(key) == a.reported {
		return nil
	}
	if a.since[ready] == "" {
		a.since["True"], a.since["False"] = "", ""
		a.since[ready] = time.Now().UTC().Format(time.RFC3339)
	}
	pol, polReason, polMsg := "True", "Enforced", fmt.Sprintf("%d allow-set entries in the kernel", res.Sizes.PolicyRules)
	if len(res.PolicyErrors) > 0 {
		pol, polReason, polMsg = "False", "PolicyMapLimit", strings.Join(capped(res.PolicyErrors, 20), "; ")
	}
	if a.since["policy"+pol] == "" {
		a.since["policyTrue"], a.since["policyFalse"] = "", ""
		a.since["policy"+pol] = time.Now().UTC().Format(time.RFC3339)
	}
	status["conditions"] = []map[string]any{{
		"type": "Ready", "status": ready, "reason": reason, "message": msg,
		"observedGeneration": np.Metadata.Generation, "lastTransitionTime": a.since[ready],
	}, {
		"type": "PolicyEnforced", "status": pol, "reason": polReason, "message": polMsg,
		"observedGeneration": np.Metadata.Generation, "lastTransitionTime": a.since["policy"+pol],
	}}
	body, _ := json.Marshal(map[string]any{"status": status})
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := a.client.Do(cctx, "PATCH", programs+"/"+np.Metadata.Name+"/status", body, "application/merge-patch+json", nil)
	if err == nil {
		a.reported = string(key)
	}
	return err
}

// capped keeps a status list within the CRD's bounds (and a status readable).
func capped(xs []string, n int) []string {
	out := append([]string{}, xs...)
	if len(out) > n {
		out = append(out[:n], fmt.Sprintf("... and %d more", len(xs)-n))
	}
	return out
}
