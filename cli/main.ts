// The centaurus command line: the top-level help and the dispatch to each command. A
// command's module is imported only when it runs (or its help is asked for), so `centaurus
// help` starts at once and each command loads only what it uses.

export const HELP = `centaurus — the Centaurus distributed cloud (Arktos, Mizar, Fornax, Alnair) on any Kubernetes cluster

Usage:
  centaurus cluster up|down|status|token   a real local control plane (etcd, kube-apiserver, kwok nodes)
  centaurus demo [--once]                  everything on this machine: clusters, operator, samples
  centaurus manager [flags]                run the operator against $KUBECONFIG
  centaurus status [--verbose]             what Centaurus manages here, across pillars
  centaurus edge tree                      the edge-cluster tree with health and mission counts
  centaurus net check <ns/a> <ns/b>        can pod a reach pod b, and why (Mizar networking)
  centaurus gpu top                        GPU devices: allocation, utilisation, pods; queues
  centaurus vm console NS/NAME             a VirtualMachine's serial console (followed)
  centaurus help [command]                 this help, or a command's

As a kubectl plugin: kubectl centaurus <command>   (bin/ on PATH: npm link, or PATH=$PWD/bin:$PATH)

Start here:  npm start     (local control plane + operator, on this machine)
Tests:       npm test
`;

interface Command {
  run: (argv: string[]) => Promise<number>;
  help: string;
}

const commands: Record<string, () => Promise<Command>> = {
  cluster: async () => {
    const m = await import("./cluster.ts");
    return { run: m.runCluster, help: m.CLUSTER_HELP };
  },
  demo: async () => {
    const m = await import("./demo.ts");
    return { run: m.runDemo, help: m.DEMO_HELP };
  },
  manager: async () => {
    const m = await import("./manager.ts");
    return { run: m.runManager, help: m.MANAGER_HELP };
  },
  status: async () => {
    const m = await import("./status.ts");
    return { run: m.runStatus, help: m.STATUS_HELP };
  },
  edge: async () => {
    const m = await import("./edge.ts");
    return { run: m.runEdge, help: m.EDGE_HELP };
  },
  net: async () => {
    const m = await import("./network.ts");
    return { run: m.runNet, help: m.NET_HELP };
  },
  gpu: async () => {
    const m = await import("./gpu.ts");
    return { run: m.runGpu, help: m.GPU_HELP };
  },
  vm: async () => {
    const m = await import("./vm.ts");
    return { run: m.runVm, help: m.VM_HELP };
  },
  "vm-launcher": async () => {
    const m = await import("./vm-launcher.ts");
    return { run: m.runVmLauncher, help: m.VM_LAUNCHER_HELP };
  },
};

/** Runs one command line; resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "help" || cmd === "--help" || cmd === "-h") {
    const topic = cmd === "help" ? rest[0] : undefined;
    const load = topic ? commands[topic] : undefined;
    process.stdout.write(load ? (await load()).help : HELP);
    return cmd === undefined ? 2 : 0;
  }
  const load = commands[cmd];
  if (!load) {
    process.stderr.write(`unknown command "${cmd}"\n\n${HELP}`);
    return 2;
  }
  return (await load()).run(rest);
}
