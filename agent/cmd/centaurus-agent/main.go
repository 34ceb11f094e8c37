// centaurus-agent makes its node's NodeProgram true in the kernel: it watches the program
// through the API server, writes the eBPF maps incrementally (only entries that changed),
// attaches the programs to the tunnel device and to every local pod's host-side veth, and
// reports what it programmed in the NodeProgram's status. Maps and links are pinned, so
// traffic keeps flowing while the agent restarts; the new process reconciles what it finds.
//
//	centaurus-agent --node NAME [--kubeconfig FILE] [--netns /run/netns/X] [--encap vxlan]
//	centaurus-agent dump --node NAME       # the pinned maps and packet counters as JSON
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/centaurus/centaurus/agent/internal/dataplane"
	"github.com/centaurus/centaurus/agent/internal/encap"
	"github.com/centaurus/centaurus/agent/internal/kube"
	"github.com/centaurus/centaurus/agent/internal/names"
)

type options struct {
	node, kubeconfig, netns, encap, pinDir, socket string
	metricsAddr                                    string
	resync                                         time.Duration
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	args := os.Args[1:]
	dump := len(args) > 0 && args[0] == "dump"
	if dump {
		args = args[1:]
	}
	var o options
	fs := flag.NewFlagSet("centaurus-agent", flag.ExitOnError)
	fs.StringVar(&o.node, "node", os.Getenv("NODE_NAME"), "this node's name (its NodeProgram's name)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig (default: the pod's service account)")
	fs.StringVar(&o.netns, "netns", "", "network namespace to program (default: the agent's own)")
	fs.StringVar(&o.encap, "encap", "vxlan", "tunnel encapsulation: vxlan or geneve")
	fs.StringVar(&o.pinDir, "pin-dir", "", "bpffs directory for maps and links (default /sys/fs/bpf/centaurus/NODE)")
	fs.StringVar(&o.socket, "socket", "", "unix socket for the CNI plugin (default /run/centaurus/NODE/agent.sock)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "also serve Prometheus /metrics on this TCP address (the socket always does)")
	fs.DurationVar(&o.resync, "resync", 10*time.Second, "full reconcile period")
	_ = fs.Parse(args)
	if o.node == "" {
		log.Fatal("--node (or NODE_NAME) is required")
	}
	if o.pinDir == "" {
		o.pinDir = filepath.Join(dataplane.BPFFS, "centaurus", o.node)
	}
	if o.socket == "" {
		o.socket = names.Socket(o.node)
	}
	if dump {
		d, err := dataplane.DumpPinned(o.pinDir)
		if err != nil {
			log.Fatal(err)
		}
		_ = json.NewEncoder(os.Stdout).Encode(d)
		return
	}
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

func run(o options) error {
	var client *kube.Client
	var err error
	if o.kubeconfig != "" {
		client, err = kube.FromKubeconfig(o.kubeconfig)
	} else {
		client, err = kube.InCluster()
	}
	if err != nil {
		return err
	}
	enc, err := encap.New(o.encap)
	if err != nil {
		return err
	}
	ns, err := newNetns(o.netns)
	if err != nil {
		return err
	}
	dp, err := dataplane.Open(o.pinDir)
	if err != nil {
		return err
	}
	defer dp.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a := newAgent(o, client, enc, ns, dp)
	go a.watch(ctx)
	if err := a.serve(ctx); err != nil {
		return err
	}
	if o.metricsAddr != "" {
		if err := a.serveMetrics(ctx, o.metricsAddr); err != nil {
			return err
		}
	}
	log.Printf("agent for node %s: pins in %s, socket %s", o.node, o.pinDir, o.socket)
	a.loop(ctx)
	// Leave maps, links and the tunnel device as they are: forwarding goes on without us.
	fmt.Fprintln(os.Stderr, "agent stopped; the data plane keeps running from its pins")
	return nil
}
