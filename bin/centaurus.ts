#!/usr/bin/env -S npx tsx
// centaurus: the command line for the local control plane and the operator.

import { CLUSTER_HELP, runCluster } from "../cli/cluster.ts";
import { GPU_HELP, runGpu } from "../cli/gpu.ts";
import { MANAGER_HELP, runManager } from "../cli/manager.ts";

const HELP = `centaurus — the Centaurus distributed cloud (Arktos, Mizar, Fornax, Alnair) on any Kubernetes cluster

Usage:
  centaurus cluster up|down|status|token   a real local control plane (etcd, kube-apiserver, kwok nodes)
  centaurus manager [flags]                run the operator against $KUBECONFIG
  centaurus gpu top                        GPU devices: allocation, utilisation, pods; queues
  centaurus help [command]                 this help, or a command's

Start here:  npm start     (local control plane + operator, on this machine)
Tests:       npm test
`;

const commands: Record<string, { run: (argv: string[]) => Promise<number>; help: string }> = {
  cluster: { run: runCluster, help: CLUSTER_HELP },
  manager: { run: runManager, help: MANAGER_HELP },
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
