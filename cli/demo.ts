// `centaurus demo` (what `npm start` runs): the whole of Centaurus on this machine.
// Brings up the local control plane "root" (plain, GPU and edge kwok nodes) and a child edge
// cluster "edge-1", installs the CRDs and cluster objects, runs the operator in both
// clusters, applies manifests/samples/, waits for them, prints what happened, and keeps
// the operator running until Ctrl-C.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { controllerModules } from "../controllers/index.ts";
import type { ControllerModule } from "../controllers/module.ts";
import { apply } from "../pkg/kube/apply.ts";
import type { KubeClient } from "../pkg/kube/client.ts";
import { buildCRD, installCRDs } from "../pkg/kube/crd.ts";
import type { KubeObject } from "../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../pkg/kube/resource.ts";
import { LocalCluster } from "../pkg/localcluster/cluster.ts";
import { parseNodeSpec } from "../pkg/localcluster/nodes.ts";
import { realNodesUnavailable } from "../pkg/localcluster/real-node.ts";
import { parseLogFormat, setLogFormat } from "../pkg/log.ts";
import { Manager } from "../pkg/manager/manager.ts";
import type { Condition } from "../pkg/status/conditions.ts";
import { applyYaml } from "../pkg/testing/manifests.ts";
import { waitFor } from "../pkg/testing/wait.ts";
import { edgeKubeconfigForPods, helmInstallOperator, runRealWorkload } from "./demo-real-node.ts";

export const DEMO_HELP = `centaurus demo — Centaurus end to end on this machine (what npm start runs)

Usage: centaurus demo [--nodes plain=3,gpu=2,edge=1] [--samples manifests/samples] [--once]
                      [--metrics-port 8080]   (root: metrics 8080, probes 8081; edge-1: 8090, 8091)
                      [--log-format auto|text|json]   (the operator's log; auto: text on a terminal)

Starts the local control plane "root" and a child edge cluster "edge-1", installs the CRDs,
runs the operator in both, applies the samples and prints tenants, VMs, VPCs and IPs, the
edge tree and GPU placements. Where real nodes can run (root, Debian's containerd, runc and
CNI plugins), root gets one (real=1) and the operator runs there as two pods installed by
helm from the image built from the Dockerfile, and a sample pod really runs on it
(--nodes real=0,... keeps the operator in this process). Keeps running until Ctrl-C unless --once is given; the clusters
stay up afterwards (npx centaurus cluster down --name root / --name edge-1).
`;

/**
 * Attaches edge-1 below root: its kubeconfig goes into a Secret in root and an EdgeCluster
 * points at it (what a user does by hand, see docs/edge.md).
 */
async function attachEdgeCluster(rootClient: KubeClient, kubeconfig: string): Promise<void> {
  await apply(rootClient, Resources.Secret, {
    metadata: { name: "edge-1-kubeconfig", namespace: "default" },
    stringData: { kubeconfig },
  } as KubeObject);
  await applyYaml(
    rootClient,
    `apiVersion: edge.centaurus.io/v1alpha1
kind: EdgeCluster
metadata:
  name: edge-1
spec:
  kubeconfigSecretRef: { namespace: default, name: edge-1-kubeconfig, key: kubeconfig }
  distro: k8s
  labels: { tier: edge, region: local }
  heartbeatPeriodSeconds: 2
  disconnectTimeoutSeconds: 10
`,
  );
}

async function installModules(client: KubeClient, modules: ControllerModule[]): Promise<void> {
  await installCRDs(
    client,
    modules.flatMap((m) => m.crds.map(buildCRD)),
  );
  for (const m of modules.flatMap((mod) => mod.manifests ?? [])) await apply(client, m.resource, m.object);
}

async function startManager(
  client: KubeClient,
  modules: ControllerModule[],
  metrics: string,
  probes: string,
): Promise<Manager> {
  const manager = new Manager({
    client,
    metricsBindAddress: metrics,
    healthProbeBindAddress: probes,
    leaderElection: { namespace: "default" },
  });
  for (const m of modules) await m.setup(manager, client);
  await manager.start();
  return manager;
}

type Obj = KubeObject & { status?: { conditions?: Condition[] } };

interface PrinterColumn {
  name: string;
  jsonPath: string;
}

/** Reads a simple JSONPath (.a.b[0].c) from an object. */
function readPath(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const part of path
    .replace(/^\./, "")
    .split(/\.|\[(\d+)\]/)
    .filter(Boolean)) {
    if (cur === null || typeof cur !== "object") return "";
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return "";
  return typeof cur === "object" ? JSON.stringify(cur) : String(cur);
}

/** Prints every Centaurus object with its CRD's printer columns, as kubectl get would. */
async function printCentaurusObjects(client: KubeClient, title: string): Promise<void> {
  const crds = await client.list<
    KubeObject & {
      spec: {
        group: string;
        scope: string;
        names: { kind: string; plural: string };
        versions: Array<{ name: string; additionalPrinterColumns?: PrinterColumn[] }>;
      };
    }
  >(Resources.CustomResourceDefinition, { labelSelector: "app.kubernetes.io/part-of=centaurus" });
  process.stdout.write(`\n===== ${title} =====\n`);
  for (const crd of crds.items.sort((a, b) => a.spec.group.localeCompare(b.spec.group))) {
    const v = crd.spec.versions[0];
    const rt: ResourceType = {
      group: crd.spec.group,
      version: v?.name ?? "v1alpha1",
      plural: crd.spec.names.plural,
      kind: crd.spec.names.kind,
      namespaced: crd.spec.scope === "Namespaced",
    };
    const list = await client.list<Obj>(rt);
    if (list.items.length === 0) continue;
    // Conditions are shown once, as READY; filter expressions are not worth a JSONPath engine here.
    const cols = (v?.additionalPrinterColumns ?? []).filter(
      (c) => c.name !== "Age" && !c.jsonPath.includes("?("),
    );
    const rows = [["NAME", ...cols.map((c) => c.name.toUpperCase()), "READY"]];
    for (const o of list.items) {
      const ready = o.status?.conditions?.find((c) => c.type === "Ready");
      rows.push([
        o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata.name ?? ""),
        ...cols.map((c) => readPath(o, c.jsonPath)),
        ready ? `${ready.status}${ready.status === "True" ? "" : ` (${ready.reason})`}` : "-",
      ]);
    }
    const widths =
      rows[0]?.map((_, i) => Math.min(60, Math.max(...rows.map((r) => (r[i] ?? "").length)))) ?? [];
    process.stdout.write(`\n${rt.kind} (${rt.group})\n`);
    for (const r of rows)
      process.stdout.write(`  ${r.map((c, i) => c.slice(0, 60).padEnd(widths[i] ?? 0)).join("  ")}\n`);
  }
}

/** Waits until every applied object reports Ready=True. */
async function waitReadyAll(
  client: KubeClient,
  objects: Array<{ resource: ResourceType; object: KubeObject }>,
  timeoutMs: number,
): Promise<void> {
  if (objects.length === 0) return;
  await waitFor(
    objects.length === 1
      ? `${objects[0]?.resource.kind} ${objects[0]?.object.metadata.name} to be Ready`
      : `${objects.length} objects to be Ready`,
    async () => {
      for (const a of objects) {
        const o = await client.get<Obj>(
          a.resource,
          a.object.metadata.name ?? "",
          a.object.metadata.namespace,
        );
        if (o.status?.conditions?.find((c) => c.type === "Ready")?.status !== "True") return undefined;
      }
      return true;
    },
    { timeoutMs },
  );
}

/**
 * Endpoints (and their IPs) follow the pods and VMs a moment later, and a VM shows its VPC
 * address once its endpoint is wired: waits for one endpoint per workload and every VM's address.
 */
async function waitWired(
  client: KubeClient,
  applied: Array<{ resource: ResourceType; object: KubeObject }>,
): Promise<void> {
  const workloads = applied.filter((a) => a.resource.kind === "Pod" || a.resource.kind === "VirtualMachine");
  const endpoints: ResourceType = {
    group: "network.centaurus.io",
    version: "v1alpha1",
    plural: "vpcendpoints",
    kind: "VPCEndpoint",
    namespaced: true,
  };
  const vms = applied.filter((a) => a.resource.kind === "VirtualMachine");
  await waitFor(
    "an endpoint for every sample workload, and every VM showing its VPC address",
    async () => {
      if ((await client.list(endpoints)).items.length < workloads.length) return false;
      for (const v of vms) {
        const vm = await client.get<KubeObject & { status?: { interfaces?: unknown[] } }>(
          v.resource,
          v.object.metadata.name ?? "",
          v.object.metadata.namespace,
        );
        if (!vm.status?.interfaces?.length) return false;
      }
      return true;
    },
    { timeoutMs: 60_000 },
  );
}

export async function runDemo(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: "string", default: "plain=3,gpu=2,edge=1" },
      samples: { type: "string", default: "manifests/samples" },
      once: { type: "boolean", default: false },
      "metrics-port": { type: "string", default: "8080" },
      "log-format": { type: "string", default: "auto" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  setLogFormat(parseLogFormat(values["log-format"]));
  const log = (s: string) => process.stderr.write(`${s}\n`);
  // Where real nodes can run, root gets one and the operator runs there as pods installed by
  // helm, the way users run it (--nodes real=0,... keeps it in this process).
  const nodes = parseNodeSpec(values.nodes);
  if (nodes.real === undefined) {
    const why = realNodesUnavailable();
    if (why) log(`==> no real node (${why}): the operator runs in this process`);
    nodes.real = why ? 0 : 1;
  }
  const real = nodes.real === 1;
  log("==> starting the local control plane root and the child edge cluster edge-1");
  const [root, child] = await Promise.all([
    LocalCluster.up({
      name: "root",
      nodes,
      progress: (l) => log(`  root: ${l}`),
    }),
    LocalCluster.up({
      name: "edge-1",
      nodes: { plain: 1, gpu: 0, edge: 2 },
      progress: (l) => log(`  edge-1: ${l}`),
    }),
  ]);
  const rootClient = await root.clientFor();
  const childClient = await child.clientFor();
  const port = Number(values["metrics-port"]);
  const managers: Manager[] = [];
  if (real) {
    await helmInstallOperator(root, rootClient, log);
  } else {
    log(
      `==> installing ${controllerModules.length} controller modules' CRDs in root; running the operator (metrics :${port})`,
    );
    await installModules(rootClient, controllerModules);
    managers.push(
      await startManager(rootClient, controllerModules, `127.0.0.1:${port}`, `127.0.0.1:${port + 1}`),
    );
  }
  log(`==> installing the CRDs in edge-1; running the operator for it here (metrics :${port + 10})`);
  await installModules(childClient, controllerModules);
  managers.push(
    await startManager(childClient, controllerModules, `127.0.0.1:${port + 10}`, `127.0.0.1:${port + 11}`),
  );
  if (controllerModules.some((m) => m.name === "edge")) {
    log("==> attaching edge-1 below root (Secret with its kubeconfig + EdgeCluster edge-1)");
    await attachEdgeCluster(
      rootClient,
      real ? edgeKubeconfigForPods(root, child) : readFileSync(child.kubeconfigPath, "utf8"),
    );
  }
  const files = readdirSync(values.samples)
    .filter((f) => f.endsWith(".yaml"))
    .sort();
  log(`==> applying ${files.length} samples from ${values.samples}: ${files.join(", ")}`);
  const applied = [];
  for (const f of files) {
    const objects = await applyYaml(rootClient, readFileSync(join(values.samples, f), "utf8"));
    applied.push(...objects);
    // What a user does after creating a tenant (`kubectl wait --for=condition=Ready tenant/x`):
    // Ready means its namespaces exist and their quotas are counted, so what follows is admitted.
    await waitReadyAll(
      rootClient,
      objects.filter((a) => a.resource.kind === "Tenant"),
      60_000,
    ).catch((err: Error) => log(`  (${err.message})`));
  }
  const centaurus = applied.filter((a) => a.resource.group.endsWith(".centaurus.io"));
  await waitReadyAll(rootClient, centaurus, 120_000).catch((err: Error) =>
    log(`  (not everything is Ready yet: ${err.message})`),
  );
  if (controllerModules.some((m) => m.name === "network")) {
    await waitWired(rootClient, applied).catch((err: Error) => log(`  (${err.message})`));
  }
  if (real) await runRealWorkload(root, rootClient, log).catch((err: Error) => log(`  (${err.message})`));
  await printCentaurusObjects(rootClient, "root cluster");
  await printCentaurusObjects(childClient, "edge-1 cluster");
  process.stdout.write(
    `\nKUBECONFIG=${root.kubeconfigPath} (root), ${child.kubeconfigPath} (edge-1)\n` +
      `Try: npx centaurus status --verbose; metrics at ${
        real
          ? "kubectl -n centaurus-system port-forward deploy/centaurus 8080 (the operator runs as pods on real-0)"
          : `http://127.0.0.1:${port}/metrics`
      }\n`,
  );
  if (values.once) {
    await Promise.all(managers.map((m) => m.stop()));
    rootClient.close();
    childClient.close();
    return 0;
  }
  log("==> the operator keeps running; Ctrl-C to stop (the clusters stay up)");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await Promise.all(managers.map((m) => m.stop()));
  return 0;
}
