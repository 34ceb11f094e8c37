#!/usr/bin/env -S npx tsx
// centaurus: the command line for the local control plane and the operator.

import { CLUSTER_HELP, runCluster } from "../cli/cluster.ts";
import { DEMO_HELP, runDemo } from "../cli/demo.ts";
import { EDGE_HELP, runEdge } from "../cli/edge.ts";
import { GPU_HELP, runGpu } from "../cli/gpu.ts";
import { MANAGER_HELP, runManager } from "../cli/manager.ts";
import { NET_HELP, runNet } from "../cli/network.ts";
import { runStatus, STATUS_HELP } from "../cli/status.ts";

const HELP = `centaurus — the Centaurus distributed cloud (Arktos, Mizar, Fornax, Alnair) on any Kubernetes cluster

Usage:
  centaurus cluster up|down|status|token   a real local control plane (etcd, kube-apiserver, kwok nodes)
  centaurus demo [--once]                  everything on this machine: clusters, operator, samples
  centaurus manager [flags]                run the operator against $KUBECONFIG
  centaurus status [--verbose]             what Centaurus manages here, across pillars
  centaurus edge tree                      the edge-cluster tree with health and mission counts
  centaurus net check <ns/a> <ns/b>        can pod a reach pod b, and why (Mizar networking)
  centaurus gpu top                        GPU devices: allocation, utilisation, pods; queues
  centaurus help [command]                 this help, or a command's

As a kubectl plugin: kubectl centaurus <command>   (bin/ on PATH: npm link, or PATH=$PWD/bin:$PATH)

Start here:  npm start     (local control plane + operator, on this machine)
Tests:       npm test
`;

const commands: Record<string, { run: (argv: string[]) => Promise<number>; help: string }> = {
  cluster: { run: runCluster, help: CLUSTER_HELP },
  demo: { run: runDemo, help: DEMO_HELP },
  manager: { run: runManager, help: MANAGER_HELP },
  status: { run: runStatus, help: STATUS_HELP },
  edge: { run: runEdge, help: EDGE_HELP },
  net: { run: runNet, help: NET_HELP },
  gpu: { run: runGpu, help: GPU_HELP },
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "help" || cmd === "--help" || cmd === "-h") {
    const topic = cmd === "help" ? rest[0] : undefined;
    process.stdout.write(topic && commands[topic] ? commands[topic].help : HELP);
    return cmd === undefined ? 2 : 0;
  }
  const command = commands[cmd];
  if (!command) {
    process.stderr.write(`unknown command "${cmd}"\n\n${HELP}`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
