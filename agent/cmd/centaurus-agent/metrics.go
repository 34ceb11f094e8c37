package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// metrics answers Prometheus' text format: every local endpoint's packets allowed and denied
// by its NetworkPolicy checks, read from the kernel's per-CPU counters at scrape time.
func (a *agent) metrics(w http.ResponseWriter, _ *http.Request) {
	counts, err := a.dp.PolicyCounters()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	a.mu.Lock()
	byIf := a.ifEndpoints
	a.mu.Unlock()
	var b strings.Builder
	b.WriteString("# HELP centaurus_policy_packets_total Packets of a local endpoint that its NetworkPolicy checks allowed or denied.\n")
	b.WriteString("# TYPE centaurus_policy_packets_total counter\n")
	lines := []string{}
	for ifindex, c := range counts {
		ep, ok := byIf[ifindex]
		if !ok {
			continue
		}
		labels := fmt.Sprintf(`node=%q,namespace=%q,pod=%q,interface=%q`, a.o.node, ep[0], ep[1], ep[2])
		for _, m := range []struct {
			dir, verdict string
			n            uint64
		}{
			{"ingress", "allowed", c.IngressAllowed}, {"ingress", "denied", c.IngressDenied},
			{"egress", "allowed", c.EgressAllowed}, {"egress", "denied", c.EgressDenied},
		} {
			lines = append(lines, fmt.Sprintf("centaurus_policy_packets_total{%s,direction=%q,verdict=%q} %d\n", labels, m.dir, m.verdict, m.n))
		}
	}
	sort.Strings(lines)
	b.WriteString(strings.Join(lines, ""))
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write([]byte(b.String()))
}

// serveMetrics serves /metrics on addr too (--metrics-addr; the unix socket always has it).
func (a *agent) serveMetrics(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", a.metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Printf("metrics on %s: %v", addr, err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return nil
}
