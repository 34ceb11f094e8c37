// network-program: one NodeProgram per node, recompiled only for the nodes a change affects
// (affected-nodes.ts) and batched by the watches' delay. The world index and the bouncer map
// are derived from the caches and dropped by every change that wakes this controller.

import { Counter as PromCounter } from "prom-client";
import { Controller } from "../../pkg/controller/controller.ts";
import { anyOf, createdOnly, deletedOnly } from "../../pkg/controller/predicates.ts";
import { type Watch, watch } from "../../pkg/controller/watch.ts";
import { apply } from "../../pkg/kube/apply.ts";
import type { NetworkPolicy } from "../../pkg/kube/core.ts";
import { canonicalJSON, controllerReference, type KubeObject } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { bouncerMap, endpointNodes, nodesSelectedBy } from "./affected-nodes.ts";
import {
  type Endpoint,
  Endpoints,
  type IPAddress,
  IPAddresses,
  ipClaimName,
  type NodeProgram,
  type NodeProgramSpec,
  NodePrograms,
  type Subnet,
  Subnets,
  type VPC,
  VPCs,
} from "./api.ts";
import type { NetworkDeps } from "./deps.ts";
import { claimedFor } from "./endpoint-desired.ts";
import {
  CLAIM_INFORMER,
  ENDPOINT_INFORMER,
  type NetworkInformers,
  NODE_INFORMER,
  SUBNET_INFORMER,
} from "./informers.ts";
import { buildNodeProgram, WorldIndex } from "./program.ts";
import { gatewayOf, isReady } from "./status.ts";
import {
  endpointSpecChanged,
  existingNodes,
  namespaceLabelsChanged,
  nodeAddressesChanged,
  PROGRAM_BATCH_MS,
  policyChanged,
  specOrReadinessChanged,
} from "./triggers.ts";

/** Least time between two rebuilds of the node-program index. */
const WORLD_REBUILD_MS = 500;
const WORLD_REBUILD_MAX_MS = 5_000;

function claimedEndpoints(inf: NetworkInformers): Endpoint[] {
  return inf.endpoints.store
    .list()
    .filter((e) => claimedFor(e, inf.claims.store.get(ipClaimName(e.spec.subnet, e.spec.ip))));
}

/** The compiler's view of the caches (pure mapping of the stores). */
export function worldOf(inf: NetworkInformers): WorldIndex {
  return new WorldIndex({
    nodes: inf.nodes.store
      .list()
      .filter((n) => !n.metadata.deletionTimestamp)
      .map((n) => ({ name: n.metadata.name ?? "", ip: n.status?.addresses?.[0]?.address ?? "" })),
    vpcs: inf.vpcs.store
      .list()
      .filter((v) => isReady(v) && v.status?.vni !== undefined)
      .map((v) => ({
        name: v.metadata.name ?? "",
        cidr: v.spec.cidr,
        vni: v.status?.vni ?? 0,
        dividers: v.spec.dividers ?? 1,
      })),
    subnets: inf.subnets.store
      .list()
      .filter((s) => isReady(s))
      .map((s) => ({
        name: s.metadata.name ?? "",
        vpc: s.spec.vpc,
        cidr: s.spec.cidr,
        gateway: s.status?.gateway ?? gatewayOf(s),
        bouncers: s.spec.bouncers ?? 1,
      })),
    // Only endpoints whose address was claimed for them: a hand-made one is ignored.
    endpoints: claimedEndpoints(inf).map((e) => ({
      namespace: e.metadata.namespace ?? "",
      name: e.metadata.name ?? "",
      pod: e.spec.pod.name,
      interface: e.spec.interface,
      ip: e.spec.ip,
      mac: e.spec.mac,
      vni: e.spec.vni,
      vpc: e.spec.vpc,
      subnet: e.spec.subnet,
      node: e.spec.node ?? "",
      labels: e.spec.podLabels ?? {},
      ...(e.spec.namedPorts ? { namedPorts: e.spec.namedPorts } : {}),
    })),
    namespaces: inf.namespaces.store
      .list()
      .map((n) => ({ name: n.metadata.name ?? "", labels: n.metadata.labels ?? {} })),
    policies: inf.policies.store.list(),
  });
}

/** A claim arriving after its endpoint lets the endpoint in (see claimedEndpoints): its nodes recompile. */
function claimWatch(inf: NetworkInformers, byEndpoint: (e: Endpoint) => Iterable<string>, delayMs: number) {
  return watch<IPAddress>({
    resource: IPAddresses,
    informer: CLAIM_INFORMER,
    map: (c) => {
      const e = inf.endpoints.store.get(`${c.spec.endpoint.namespace}/${c.spec.endpoint.name}`);
      return e ? byEndpoint(e) : [];
    },
    predicate: anyOf(createdOnly, deletedOnly),
    delayMs,
  });
}

/** The caches derived for compilation, and the watches that both drop them and name nodes. */
function derivedWorld(inf: NetworkInformers) {
  let world: WorldIndex | undefined;
  let builtAt = 0;
  let bouncers: Map<string, string[]> | undefined;
  const only = existingNodes(inf.nodes.store);
  const input = {
    bouncersOf: (subnet: string) => {
      bouncers ??= bouncerMap(
        inf.nodes.store.keys(),
        inf.subnets.store.list().map((s) => ({ name: s.metadata.name ?? "", bouncers: s.spec.bouncers })),
      );
      return bouncers.get(subnet) ?? [];
    },
    get policies() {
      return inf.policies.store.list();
    },
    namespaceLabels: (ns: string) => inf.namespaces.store.get(ns)?.metadata.labels ?? {},
    endpointsInNamespace: (ns: string) => inf.endpoints.store.byIndex("namespace", ns),
  };
  const byEndpoint = (e: Endpoint) => {
    const affected = endpointNodes(e, input);
    world = undefined;
    return only(affected);
  };
  const byPolicy = (p: NetworkPolicy) => {
    world = undefined;
    return only(nodesSelectedBy(p, input.endpointsInNamespace(p.metadata.namespace ?? "")));
  };
  const all = (_: KubeObject) => {
    world = undefined;
    bouncers = undefined;
    return only(inf.nodes.store.keys());
  };
  const delayMs = PROGRAM_BATCH_MS;
  const watches: Watch[] = [
    watch({
      resource: Endpoints,
      informer: ENDPOINT_INFORMER,
      map: byEndpoint,
      predicate: endpointSpecChanged,
      delayMs,
    }),
    claimWatch(inf, byEndpoint, delayMs),
    watch({ resource: Resources.NetworkPolicy, map: byPolicy, predicate: policyChanged, delayMs }),
    watch({ resource: Resources.Namespace, map: all, predicate: namespaceLabelsChanged, delayMs }),
    watch<VPC>({ resource: VPCs, map: all, predicate: specOrReadinessChanged, delayMs }),
    watch<Subnet>({
      resource: Subnets,
      informer: SUBNET_INFORMER,
      map: all,
      predicate: specOrReadinessChanged,
      delayMs,
    }),
    watch({
      resource: Resources.Node,
      informer: NODE_INFORMER,
      map: all,
      predicate: nodeAddressesChanged,
      delayMs,
    }),
  ];
  return {
    watches,
    /** The index, if still valid, else undefined with the time since the last build. */
    cached: () => ({ world, sinceBuild: performance.now() - builtAt }),
    current: (): WorldIndex => {
      if (!world) {
        world = worldOf(inf);
        builtAt = performance.now();
      }
      return world;
    },
  };
}

export function programController(
  deps: NetworkDeps,
  manager: Manager,
): { controller: Controller; compiles: PromCounter<"node"> } {
  const { nodes, programs } = deps.inf;
  const compiles = new PromCounter({
    name: "centaurus_network_node_program_compiles_total",
    help: "Node programs compiled, per node (a change recompiles only the nodes it affects).",
    labelNames: ["node"],
    registers: [manager.registry],
  });
  const derived = derivedWorld(deps.inf);
  /** What this process last wrote per node program (a cache: the API server's copy decides). */
  const written = new Map<string, { resourceVersion?: string; text: string }>();
  let recentCompileMs = 0;
  const controller = new Controller({
    name: "network-program",
    for: NodePrograms,
    concurrency: 2,
    logger: deps.log,
    watches: derived.watches,
    reconcile: async (req) => {
      const node = nodes.store.get(req.name);
      if (!node || node.metadata.deletionTimestamp) return; // the program goes with its Node (owner reference)
      // Rebuilding the index is O(endpoints): at most once per floor, so a burst of changes
      // costs a few rebuilds, not one per change. The floor grows with what a compile costs
      // (10x the slowest recent one), keeping compilation to about a tenth of this process's
      // time, so that it never starves endpoint provisioning. The key comes back when due.
      const floor = Math.min(WORLD_REBUILD_MAX_MS, Math.max(WORLD_REBUILD_MS, 10 * recentCompileMs));
      const { world, sinceBuild } = derived.cached();
      if (!world && sinceBuild < floor) return { requeueAfterMs: Math.ceil(floor - sinceBuild) };
      const started = performance.now();
      const spec: NodeProgramSpec = buildNodeProgram(derived.current(), req.name);
      compiles.inc({ node: req.name });
      const current = programs.store.get(req.name);
      const text = JSON.stringify(spec);
      // A decaying maximum: one slow compile raises the floor, which then relaxes.
      recentCompileMs = Math.max(performance.now() - started, recentCompileMs * 0.9);
      const mine = written.get(req.name);
      // Unchanged since our own last write (same resourceVersion): compare our serialisations,
      // which is cheap; otherwise (edited by someone, or after a restart) compare canonically.
      if (current && mine && mine.resourceVersion === current.metadata.resourceVersion) {
        if (mine.text === text) return;
      } else if (current && canonicalJSON(current.spec) === canonicalJSON(spec)) return;
      const result = await apply<NodeProgram>(deps.client, NodePrograms, {
        metadata: {
          name: req.name,
          labels: { "app.kubernetes.io/managed-by": "centaurus" },
          ownerReferences: [
            {
              ...controllerReference({ ...node, apiVersion: "v1", kind: "Node" }),
              blockOwnerDeletion: false,
            },
          ],
        },
        spec,
      });
      written.set(req.name, { resourceVersion: result.metadata.resourceVersion, text });
    },
  });
  return { controller, compiles };
}
