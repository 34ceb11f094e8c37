// `centaurus cluster up|down|status`: the local control plane.

import { parseArgs } from "node:util";
import { LocalCluster } from "../pkg/localcluster/cluster.ts";
import { parseNodeSpec } from "../pkg/localcluster/nodes.ts";

export const CLUSTER_HELP = `centaurus cluster — a real local Kubernetes control plane on this machine

Usage:
  centaurus cluster up [--name root] [--nodes real=1,plain=3,gpu=2,edge=1] [--port N]
      Build the binaries (first time only, 10-20 min) and start etcd, kube-apiserver (Node and
      RBAC authorization, static tokens for admin, tenant-a-admin, tenant-b-admin, ...),
      kube-controller-manager, kube-scheduler and kwok with fake nodes. real=1 adds a real node:
      a kubelet with its own containerd and runc on this machine (root and Debian's containerd,
      runc, containernetworking-plugins and busybox-static: hack/install-real-node.sh).
      Writes a kubeconfig and prints how to use it. Several named clusters can run at once.
  centaurus cluster down [--name root]
      Stop every process of that cluster (by pid; a real node's by its cgroup tree), undo its
      host state (bridge, routes, NAT rules, cgroups) and remove its data.
  centaurus cluster status [--name root]
      Which of its processes run, its server and kubeconfig.
  centaurus cluster token USER [--name root]
      Print a static user's bearer token (admin, tenant-a-admin, tenant-b-admin, ...).

Environment:
  CENTAURUS_HOME   where clusters keep their data (default ~/.centaurus/clusters)
  CENTAURUS_CACHE  where built binaries are cached (default ~/.cache/centaurus)
`;

export async function runCluster(argv: string[]): Promise<number> {
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
    process.stdout.write(CLUSTER_HELP);
    return verb || values.help ? 0 : 2;
  }
  const name = values.name;
  const existing = () => {
    const c = LocalCluster.load(name);
    if (!c)
      throw new Error(`no cluster named ${name}: start one with npx centaurus cluster up --name ${name}`);
    return c;
  };
  switch (verb) {
    case "up": {
      const started = Date.now();
      const port = values.port === undefined ? undefined : Number(values.port);
      if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))
        throw new Error(`bad --port ${values.port}`);
      const c = await LocalCluster.up({ name, nodes: parseNodeSpec(values.nodes), port });
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(
        `cluster ${name} is ready (${secs} s): ${c.state.server}\n\n` +
          `  export KUBECONFIG=${c.kubeconfigPath}\n` +
          `  export PATH=${c.state.binDir}:$PATH   # kubectl, helm\n` +
          "  kubectl get nodes\n\n" +
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
      const c = existing();
      process.stdout.write(
        `cluster ${name}: ${c.state.server}\nkubeconfig: ${c.kubeconfigPath}\nbinaries: ${c.state.binDir}\n`,
      );
      for (const [comp, up] of Object.entries(c.running()))
        process.stdout.write(`  ${up ? "running" : "stopped"}  ${comp}\n`);
      return Object.values(c.running()).every(Boolean) ? 0 : 1;
    }
    case "token": {
      const user = positionals[1];
      const token = user ? existing().state.tokens[user] : undefined;
      if (!token)
        throw new Error(
          `unknown user ${user ?? "(none given)"}: one of ${Object.keys(existing().state.tokens).join(", ")}`,
        );
      process.stdout.write(`${token}\n`);
      return 0;
    }
    default:
      process.stderr.write(`unknown cluster command "${verb}"\n\n${CLUSTER_HELP}`);
      return 2;
  }
}
