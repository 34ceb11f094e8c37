#!/usr/bin/env -S npx tsx
// centaurus: the command line for the local control plane and the operator.

import { parseArgs } from "node:util";
import { LocalCluster } from "../hack/localcluster/cluster.ts";
import { parseNodeSpec } from "../hack/localcluster/nodes.ts";

const HELP = `centaurus — the Centaurus distributed cloud on any Kubernetes cluster

Usage:
  centaurus cluster up [--name root] [--nodes plain=3,gpu=2,edge=1] [--port N]
      Build (first time only) and start a local control plane: etcd, kube-apiserver (RBAC on),
      kube-controller-manager, kube-scheduler and kwok with fake nodes. Writes a kubeconfig
      and prints how to use it. Several named clusters can run at once.
  centaurus cluster down [--name root]
      Stop every process of that cluster and remove its data.
  centaurus cluster status [--name root]
      Show which of its processes run, its server and kubeconfig.

Environment:
  CENTAURUS_HOME   where clusters keep their data (default ~/.centaurus/clusters)
  CENTAURUS_CACHE  where built binaries are cached (default ~/.cache/centaurus)
`;

async function cluster(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: "string", default: "root" },
      nodes: { type: "string", default: "plain=3,gpu=2,edge=1" },
      port: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const verb = positionals[0];
  if (values.help || !verb) {
    process.stdout.write(HELP);
    return verb ? 0 : 2;
  }
  const name = values.name;
  switch (verb) {
    case "up": {
      const started = Date.now();
      const c = await LocalCluster.up({
        name,
        nodes: parseNodeSpec(values.nodes),
        port: values.port ? Number(values.port) : undefined,
      });
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(
        `cluster ${name} is ready (${secs} s): ${c.state.server}\n\n` +
          `  export KUBECONFIG=${c.kubeconfigPath}\n` +
          `  ${c.state.binDir}/kubectl get nodes\n\n` +
          `stop it with: npx centaurus cluster down --name ${name}\n`,
      );
      return 0;
    }
    case "down": {
      const c = LocalCluster.load(name);
      if (!c) {
        process.stdout.write(`no cluster named ${name}\n`);
        return 0;
      }
      await c.down();
      process.stdout.write(`cluster ${name} stopped and removed\n`);
      return 0;
    }
    case "status": {
      const c = LocalCluster.load(name);
      if (!c) {
        process.stdout.write(
          `no cluster named ${name}: start one with npx centaurus cluster up --name ${name}\n`,
        );
        return 1;
      }
      process.stdout.write(`cluster ${name}: ${c.state.server}\nkubeconfig: ${c.kubeconfigPath}\n`);
      for (const [comp, up] of Object.entries(c.running()))
        process.stdout.write(`  ${up ? "running" : "stopped"}  ${comp}\n`);
      return 0;
    }
    default:
      process.stderr.write(`unknown cluster command "${verb}"\n\n${HELP}`);
      return 2;
  }
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "cluster":
      return cluster(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(HELP);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command "${cmd}"\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
