// The network controllers: thin reconcilers over the pure modules (ipam, vni, validate,
// policy, program). Every decision is rebuilt from the API server's objects (through the
// shared informers); the API server is the arbiter of address ownership (IPAddress claims).
//
//   network-vpc       VNI allocation, tenant overlap check, status.subnets
//   network-subnet    containment / overlap checks, used and available address counts
//   network-endpoint  pods (and VM launcher pods) → IPAddress claim + Endpoint + IP annotation
//   network-ipclaim   returns addresses whose pod is gone (also pods deleted while we were down)
//   network-program   one NodeProgram per node, recompiled only for nodes a change affects

import type { Counter } from "prom-client";
import { Counter as PromCounter } from "prom-client";
import type { Informer } from "../../pkg/cache/informer.ts";
import { Controller } from "../../pkg/controller/controller.ts";
import { apply, applyStatus } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { isAlreadyExists, isConflict, isNotFound } from "../../pkg/kube/errors.ts";
import { canonicalJSON, controllerReference, type KubeObject } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { type Condition, setCondition } from "../../pkg/status/conditions.ts";
import { EventRecorder } from "../../pkg/status/events.ts";
import {
  API_VERSION,
  type Endpoint,
  Endpoints,
  IP_ANNOTATION,
  type IPAddress,
  IPAddresses,
  IPS_ANNOTATION,
  ipClaimName,
  type NodeProgram,
  type NodeProgramSpec,
  NodePrograms,
  POD_UID_LABEL,
  SUBNET_ANNOTATION,
  SUBNET_LABEL,
  type Subnet,
  type SubnetStatus,
  Subnets,
  TENANT_LABEL,
  type VPC,
  VPC_LABEL,
  type VPCStatus,
  VPCs,
} from "./api.ts";
import { defaultGateway, formatIP, IPPool, macFor, parseCIDR } from "./ipam.ts";
import { matchesSelector, type NetworkPolicy } from "./policy.ts";
import { buildNodeProgram, pickNodes, type World, WorldIndex } from "./program.ts";
import { subnetProblem, vpcProblem } from "./validate.ts";
import { chooseVNI } from "./vni.ts";

/** The fields of a pod the network controllers read (pods are many: cache only these). */
export interface PodView extends KubeObject {
  spec: { nodeName?: string };
  status: { phase?: string };
}

export function podTransform(pod: KubeObject): KubeObject {
  const p = pod as KubeObject & { spec?: { nodeName?: string }; status?: { phase?: string } };
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata.annotations ?? {})) {
    if (k.startsWith("network.centaurus.io/")) annotations[k] = v;
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: p.metadata.name,
      namespace: p.metadata.namespace,
      uid: p.metadata.uid,
      resourceVersion: p.metadata.resourceVersion,
      creationTimestamp: p.metadata.creationTimestamp,
      deletionTimestamp: p.metadata.deletionTimestamp,
      labels: p.metadata.labels,
      annotations,
    },
    spec: { nodeName: p.spec?.nodeName },
    status: { phase: p.status?.phase },
  } as PodView;
}

interface NodeView extends KubeObject {
  status?: { addresses?: Array<{ type: string; address: string }> };
}

function nodeTransform(node: KubeObject): KubeObject {
  const n = node as NodeView;
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: n.metadata.name,
      uid: n.metadata.uid,
      resourceVersion: n.metadata.resourceVersion,
      deletionTimestamp: n.metadata.deletionTimestamp,
    },
    status: { addresses: n.status?.addresses?.filter((a) => a.type === "InternalIP") },
  } as NodeView;
}

const CLAIM_POD_INDEX = "claim-pod";
const CLAIM_SUBNET_INDEX = "claim-subnet";
const ENDPOINT_POD_INDEX = "endpoint-pod";
const SUBNET_VPC_INDEX = "subnet-vpc";
const SUBNET_NAMESPACE_INDEX = "subnet-namespace";
const ENDPOINT_NODE_INDEX = "endpoint-node";
/** Claims younger than this are left alone by the claim sweeper (their pod may not be cached yet). */
const CLAIM_GRACE_MS = 10_000;
/** Least time between two rebuilds of the node-program index. */
const WORLD_REBUILD_MS = 500;
const WORLD_REBUILD_MAX_MS = 5_000;

function endpointName(pod: string, iface: number): string {
  return iface === 0 ? pod : `${pod}.eth${iface}`;
}

function readyCondition(status: { conditions?: Condition[] } | undefined): Condition | undefined {
  return status?.conditions?.find((c) => c.type === "Ready");
}

function isReady(obj: { status?: { conditions?: Condition[] } } | undefined): boolean {
  return readyCondition(obj?.status)?.status === "True";
}

export interface NetworkControllers {
  controllers: Controller[];
  compiles: Counter<"node">;
}

export function setupNetwork(
  manager: Manager,
  client: KubeClient,
  opts: { logger?: Logger } = {},
): NetworkControllers {
  const factory = manager.factory;
  const log = opts.logger ?? manager.log;
  const events = new EventRecorder(client, "centaurus.io/network", "network", log);

  // Shared informers, created first so that every controller gets the same options.
  const vpcs = factory.informerFor(VPCs) as unknown as Informer<VPC>;
  const subnets = factory.informerFor(Subnets, {
    indexers: {
      [SUBNET_VPC_INDEX]: (o) => [(o as Subnet).spec.vpc],
      [SUBNET_NAMESPACE_INDEX]: (o) => (o as Subnet).spec.namespaces ?? [],
    },
  }) as unknown as Informer<Subnet>;
  const claims = factory.informerFor(IPAddresses, {
    indexers: {
      [CLAIM_POD_INDEX]: (o) => {
        const e = (o as IPAddress).spec.endpoint;
        return [`${e.namespace}/${e.pod}`];
      },
      [CLAIM_SUBNET_INDEX]: (o) => [(o as IPAddress).spec.subnet],
    },
  }) as unknown as Informer<IPAddress>;
  const endpoints = factory.informerFor(Endpoints, {
    indexers: {
      [ENDPOINT_POD_INDEX]: (o) => [`${o.metadata.namespace}/${(o as Endpoint).spec.pod.name}`],
      [ENDPOINT_NODE_INDEX]: (o) => ((o as Endpoint).spec.node ? [(o as Endpoint).spec.node as string] : []),
    },
  }) as unknown as Informer<Endpoint>;
  const pods = factory.informerFor(Resources.Pod, {
    transform: podTransform,
  }) as unknown as Informer<PodView>;
  const nodes = factory.informerFor(Resources.Node, {
    transform: nodeTransform,
  }) as unknown as Informer<NodeView>;
  const namespaces = factory.informerFor(Resources.Namespace);
  const policies = factory.informerFor(Resources.NetworkPolicy) as unknown as Informer<NetworkPolicy>;
  const programs = factory.informerFor(NodePrograms) as unknown as Informer<NodeProgram>;

  // ------------------------------------------------------------------ VPC
  /** VNIs written by this process that the cache may not show yet (concurrency 1 makes this exact). */
  const recentVNIs = new Map<string, number>();
  const vpcController = new Controller({
    name: "network-vpc",
    for: VPCs,
    concurrency: 1,
    logger: log,
    reconcile: async (req) => {
      const vpc = vpcs.store.get(req.key);
      if (!vpc) {
        recentVNIs.delete(req.name);
        return;
      }
      const others = vpcs.store.list().filter((v) => v.metadata.name !== req.name);
      const status: VPCStatus = structuredClone((vpc.status ?? {}) as VPCStatus);
      const gen = vpc.metadata.generation;
      const problem = vpcProblem(vpc, others);
      status.subnets = subnets.store
        .byIndex(SUBNET_VPC_INDEX, req.name)
        .map((s) => s.metadata.name ?? "")
        .sort();
      if (problem) {
        status.conditions = setCondition(status.conditions, {
          type: "Ready",
          status: "False",
          ...problem,
          observedGeneration: gen,
        });
        if (readyCondition(vpc.status)?.reason !== problem.reason) {
          await events.record(vpc, "Warning", problem.reason, problem.message);
        }
      } else {
        if (status.vni === undefined) {
          const used = new Map<number, string>();
          for (const o of others) {
            const v = o.status?.vni ?? recentVNIs.get(o.metadata.name ?? "") ?? o.spec.vni;
            if (v !== undefined) used.set(v, o.metadata.name ?? "");
          }
          const choice = chooseVNI(req.name, used, vpc.spec.vni);
          if ("conflict" in choice) {
            status.conditions = setCondition(status.conditions, {
              type: "Ready",
              status: "False",
              reason: "VNIConflict",
              message: choice.conflict,
              observedGeneration: gen,
            });
            if (readyCondition(vpc.status)?.reason !== "VNIConflict") {
              await events.record(vpc, "Warning", "VNIConflict", choice.conflict);
            }
          } else {
            status.vni = choice.vni;
            recentVNIs.set(req.name, choice.vni);
            await events.record(vpc, "Normal", "VNIAllocated", `VNI ${choice.vni}`);
          }
        }
        if (status.vni !== undefined) {
          status.conditions = setCondition(status.conditions, {
            type: "Ready",
            status: "True",
            reason: "Ready",
            message: `VNI ${status.vni}, ${status.subnets.length} subnet(s)`,
            observedGeneration: gen,
          });
        }
      }
      status.observedGeneration = gen;
      if (canonicalJSON(status) !== canonicalJSON(vpc.status ?? {})) {
        await applyStatus(client, VPCs, req.name, undefined, status);
      }
    },
  });

  // ------------------------------------------------------------------ Subnet
  const subnetController = new Controller({
    name: "network-subnet",
    for: Subnets,
    concurrency: 2,
    logger: log,
    reconcile: async (req) => {
      const subnet = subnets.store.get(req.key);
      if (!subnet) {
        pools.delete(req.name);
        return;
      }
      const vpc = vpcs.store.get(subnet.spec.vpc);
      const status: SubnetStatus = structuredClone((subnet.status ?? {}) as SubnetStatus);
      const gen = subnet.metadata.generation;
      const problem = subnetProblem(subnet, vpc, subnets.store.byIndex(SUBNET_VPC_INDEX, subnet.spec.vpc));
      const gateway = subnet.spec.gateway ?? formatIP(defaultGateway(parseCIDR(subnet.spec.cidr)));
      status.gateway = gateway;
      if (problem) {
        status.conditions = setCondition(status.conditions, {
          type: "Ready",
          status: "False",
          ...problem,
          observedGeneration: gen,
        });
        if (readyCondition(subnet.status)?.reason !== problem.reason) {
          await events.record(subnet, "Warning", problem.reason, problem.message);
        }
      } else if (!vpc || !isReady(vpc) || vpc.status?.vni === undefined) {
        status.conditions = setCondition(status.conditions, {
          type: "Ready",
          status: "False",
          reason: "VPCNotReady",
          message: `VPC ${subnet.spec.vpc} is not ready: ${readyCondition(vpc?.status)?.message ?? "no VNI yet"}`,
          observedGeneration: gen,
        });
      } else {
        status.vni = vpc.status.vni;
        const pool = poolFor(subnet);
        status.usedIPs = pool.usedCount;
        status.availableIPs = pool.available;
        status.conditions = setCondition(status.conditions, {
          type: "Ready",
          status: "True",
          reason: "Ready",
          message: `${pool.available} of ${pool.capacity} addresses free`,
          observedGeneration: gen,
        });
        status.conditions = setCondition(
          status.conditions,
          pool.available > 0
            ? {
                type: "IPsAvailable",
                status: "True",
                reason: "AddressesFree",
                message: `${pool.available} free`,
                observedGeneration: gen,
              }
            : {
                type: "IPsAvailable",
                status: "False",
                reason: "SubnetFull",
                message: `all ${pool.capacity} addresses are in use`,
                observedGeneration: gen,
              },
        );
      }
      status.observedGeneration = gen;
      if (canonicalJSON(status) !== canonicalJSON(subnet.status ?? {})) {
        await applyStatus(client, Subnets, req.name, undefined, status);
      }
    },
  });

  // ------------------------------------------------------------------ address pools
  // A cache of the claims the API server holds, kept in step by the claim informer and
  // rebuilt from it after a restart or a spec change: never the source of truth.
  const pools = new Map<string, { signature: string; pool: IPPool }>();
  function poolFor(subnet: Subnet): IPPool {
    const name = subnet.metadata.name ?? "";
    const signature = canonicalJSON([subnet.spec.cidr, subnet.spec.gateway, subnet.spec.excludeIPs]);
    const hit = pools.get(name);
    if (hit && hit.signature === signature) return hit.pool;
    const pool = IPPool.from(
      { cidr: subnet.spec.cidr, gateway: subnet.spec.gateway, excludeIPs: subnet.spec.excludeIPs },
      claims.store.byIndex(CLAIM_SUBNET_INDEX, name).map((c) => c.spec.ip),
    );
    pools.set(name, { signature, pool });
    return pool;
  }
  claims.addEventHandler({
    onAdd: (c) => pools.get(c.spec.subnet)?.pool.markUsed(c.spec.ip),
    onDelete: (c) => pools.get(c.spec.subnet)?.pool.release(c.spec.ip),
  });

  // ------------------------------------------------------------------ Endpoint (pods and VMs)
  /** Claims this process created that the cache may not show yet: podUID/iface → claim. */
  const recentClaims = new Map<string, IPAddress>();

  async function releasePod(
    namespace: string,
    pod: string,
    keepUID: string | undefined,
    keep: Set<string>,
  ): Promise<void> {
    for (const ep of endpoints.store.byIndex(ENDPOINT_POD_INDEX, `${namespace}/${pod}`)) {
      if (ep.spec.pod.uid === keepUID && keep.has(ep.metadata.name ?? "")) continue;
      try {
        await client.delete(Endpoints, ep.metadata.name ?? "", namespace, {
          preconditionUid: ep.metadata.uid,
        });
      } catch (err) {
        if (!isNotFound(err) && !isConflict(err)) throw err;
      }
    }
    for (const c of claims.store.byIndex(CLAIM_POD_INDEX, `${namespace}/${pod}`)) {
      if (c.spec.endpoint.podUID === keepUID && keep.has(c.spec.endpoint.name)) continue;
      await deleteClaim(c);
    }
    for (const [k, c] of recentClaims) {
      if (
        c.spec.endpoint.namespace === namespace &&
        c.spec.endpoint.pod === pod &&
        c.spec.endpoint.podUID !== keepUID
      ) {
        recentClaims.delete(k);
      }
    }
  }

  async function deleteClaim(c: IPAddress): Promise<void> {
    try {
      await client.delete(IPAddresses, c.metadata.name ?? "", undefined, { preconditionUid: c.metadata.uid });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
    recentClaims.delete(`${c.spec.endpoint.podUID}/${c.spec.endpoint.name}`);
  }

  /** The claim of one interface: the existing one, or a new address claimed at the API server. */
  async function claimFor(pod: PodView, subnet: Subnet, epName: string): Promise<IPAddress | undefined> {
    const uid = pod.metadata.uid ?? "";
    const ns = pod.metadata.namespace ?? "";
    const podName = pod.metadata.name ?? "";
    const subnetName = subnet.metadata.name ?? "";
    const existing =
      claims.store
        .byIndex(CLAIM_POD_INDEX, `${ns}/${podName}`)
        .find(
          (c) =>
            c.spec.endpoint.podUID === uid && c.spec.endpoint.name === epName && c.spec.subnet === subnetName,
        ) ?? recentClaims.get(`${uid}/${epName}`);
    if (existing && existing.spec.subnet === subnetName) return existing;
    const pool = poolFor(subnet);
    const lost = new Set<string>();
    for (let attempt = 0; attempt < 256; attempt++) {
      const ip = pool.next(lost);
      if (ip === undefined) return undefined;
      const claim: IPAddress = {
        apiVersion: API_VERSION,
        kind: "IPAddress",
        metadata: {
          name: ipClaimName(subnetName, ip),
          labels: {
            [SUBNET_LABEL]: subnetName,
            [POD_UID_LABEL]: uid,
            ...(pod.metadata.labels?.[TENANT_LABEL]
              ? { [TENANT_LABEL]: pod.metadata.labels[TENANT_LABEL] }
              : {}),
          },
        },
        spec: {
          subnet: subnetName,
          ip,
          endpoint: { namespace: ns, name: epName, pod: podName, podUID: uid },
        },
      };
      try {
        const created = await client.create<IPAddress>(IPAddresses, claim);
        pool.markUsed(ip);
        recentClaims.set(`${uid}/${epName}`, created);
        return created;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        // Someone holds it (a claim our cache has not seen yet): take the next candidate.
        lost.add(ip);
      }
    }
    throw new Error(`subnet ${subnetName}: no free address after 256 lost races`);
  }

  const endpointController = new Controller({
    name: "network-endpoint",
    for: Resources.Pod,
    forInformer: { transform: podTransform },
    concurrency: 8,
    logger: log,
    reconcile: async (req) => {
      const pod = pods.store.get(req.key);
      const ns = req.namespace ?? "";
      if (
        !pod ||
        pod.metadata.deletionTimestamp ||
        pod.status.phase === "Succeeded" ||
        pod.status.phase === "Failed"
      ) {
        // Gone or finished: its addresses return to the pool now, not when GC gets to it.
        await releasePod(ns, req.name, undefined, new Set());
        return;
      }
      const uid = pod.metadata.uid ?? "";
      const annotated = pod.metadata.annotations?.[SUBNET_ANNOTATION];
      let wanted: string[];
      if (annotated)
        wanted = annotated
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
      else {
        const defaults = subnets.store
          .byIndex(SUBNET_NAMESPACE_INDEX, ns)
          .filter((s) => !s.metadata.deletionTimestamp);
        if (defaults.length > 1) {
          defaults.sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""));
        }
        wanted = defaults.length ? [defaults[0]!.metadata.name ?? ""] : [];
      }
      const keep = new Set(wanted.map((_, i) => endpointName(req.name, i)));
      if (wanted.length === 0) {
        await releasePod(ns, req.name, uid, new Set());
        return;
      }
      const ips: string[] = [];
      for (const [i, subnetName] of wanted.entries()) {
        const subnet = subnets.store.get(subnetName);
        const epName = endpointName(req.name, i);
        if (!subnet || !isReady(subnet)) {
          const why = subnet ? (readyCondition(subnet.status)?.message ?? "not ready yet") : "does not exist";
          await events.record(pod, "Warning", "SubnetNotReady", `subnet ${subnetName} for eth${i}: ${why}`);
          // The subnet watch requeues this pod when the subnet becomes ready.
          return;
        }
        const vni = subnet.status?.vni ?? 0;
        const claim = await claimFor(pod, subnet, epName);
        if (!claim) {
          await events.record(
            pod,
            "Warning",
            "SubnetFull",
            `subnet ${subnetName} has no free address for eth${i}`,
          );
          return { requeueAfterMs: 5_000 };
        }
        ips.push(claim.spec.ip);
        const desired: Endpoint = {
          apiVersion: API_VERSION,
          kind: "Endpoint",
          metadata: {
            name: epName,
            namespace: ns,
            labels: {
              [SUBNET_LABEL]: subnetName,
              [VPC_LABEL]: subnet.spec.vpc,
              ...(pod.metadata.labels?.[TENANT_LABEL]
                ? { [TENANT_LABEL]: pod.metadata.labels[TENANT_LABEL] }
                : {}),
            },
            // No blockOwnerDeletion: that would need update rights on pods/finalizers.
            ownerReferences: [{ ...controllerReference(pod), blockOwnerDeletion: false }],
          },
          spec: {
            subnet: subnetName,
            vpc: subnet.spec.vpc,
            vni,
            ip: claim.spec.ip,
            mac: macFor(claim.spec.ip),
            interface: `eth${i}`,
            ...(pod.spec.nodeName ? { node: pod.spec.nodeName } : {}),
            pod: { name: req.name, uid },
            podLabels: { ...(pod.metadata.labels ?? {}) },
          },
        };
        const current = endpoints.store.get(`${ns}/${epName}`);
        if (current && current.spec.pod.uid === uid && current.spec.ip !== claim.spec.ip) {
          // An interface moved subnet: the Endpoint's address is immutable, so replace it.
          await client.delete(Endpoints, epName, ns, { preconditionUid: current.metadata.uid });
        } else if (current && current.spec.pod.uid !== uid) {
          await client
            .delete(Endpoints, epName, ns, { preconditionUid: current.metadata.uid })
            .catch((err) => {
              if (!isNotFound(err) && !isConflict(err)) throw err;
            });
        }
        if (
          !current ||
          canonicalJSON(current.spec) !== canonicalJSON(desired.spec) ||
          canonicalJSON(current.metadata.labels) !== canonicalJSON(desired.metadata.labels)
        ) {
          await apply(client, Endpoints, desired);
        }
      }
      await releasePod(ns, req.name, uid, keep);
      const annotations: Record<string, string | null> = {};
      if (pod.metadata.annotations?.[IP_ANNOTATION] !== ips[0]) annotations[IP_ANNOTATION] = ips[0] ?? null;
      const multi = ips.length > 1 ? ips.map((ip, i) => `eth${i}=${ip}`).join(",") : undefined;
      if (pod.metadata.annotations?.[IPS_ANNOTATION] !== multi) annotations[IPS_ANNOTATION] = multi ?? null;
      if (Object.keys(annotations).length) {
        try {
          await client.patch(Resources.Pod, req.name, ns, "merge", {
            metadata: { uid, annotations },
          });
        } catch (err) {
          if (!isNotFound(err) && !isConflict(err)) throw err;
        }
      }
    },
  });
  // A subnet that becomes ready (or changes spec) wakes the pods that default to it or name it.
  const wakePodsOf = (s: Subnet) => {
    const name = s.metadata.name ?? "";
    for (const ns of s.spec.namespaces ?? []) {
      for (const p of pods.store.byIndex("namespace", ns))
        endpointController.enqueue(`${ns}/${p.metadata.name}`);
    }
    for (const p of pods.store.list()) {
      const a = p.metadata.annotations?.[SUBNET_ANNOTATION];
      if (a?.split(",").some((x) => x.trim() === name))
        endpointController.enqueue(`${p.metadata.namespace}/${p.metadata.name}`);
    }
  };
  subnets.addEventHandler({
    onAdd: wakePodsOf,
    onUpdate: (old, cur) => {
      if (isReady(old) !== isReady(cur) || old.metadata.generation !== cur.metadata.generation) {
        wakePodsOf(old);
        wakePodsOf(cur);
      }
    },
    onDelete: wakePodsOf,
  });
  // Endpoints changed by someone else (or deleted) are put back by their pod's reconcile.
  endpoints.addEventHandler({
    onDelete: (e) => endpointController.enqueue(`${e.metadata.namespace}/${e.spec.pod.name}`),
  });

  // ------------------------------------------------------------------ claim sweeper
  const claimController = new Controller({
    name: "network-ipclaim",
    for: IPAddresses,
    concurrency: 2,
    logger: log,
    reconcile: async (req) => {
      const claim = claims.store.get(req.key);
      if (!claim) return;
      const { namespace, pod, podUID } = claim.spec.endpoint;
      const cached = pods.store.get(`${namespace}/${pod}`);
      if (cached && cached.metadata.uid === podUID && !cached.metadata.deletionTimestamp) return;
      const age = Date.now() - Date.parse(claim.metadata.creationTimestamp ?? new Date().toISOString());
      if (age < CLAIM_GRACE_MS) return { requeueAfterMs: CLAIM_GRACE_MS - age + 100 };
      // The cache says the pod is gone: confirm with the API server before freeing the address.
      try {
        const live = await client.get<PodView>(Resources.Pod, pod, namespace);
        if (live.metadata.uid === podUID && !live.metadata.deletionTimestamp) return;
        if (live.metadata.uid === podUID) return { requeueAfterMs: 2_000 };
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      await deleteClaim(claim);
    },
  });

  // ------------------------------------------------------------------ NodeProgram
  const compiles = new PromCounter({
    name: "centaurus_network_node_program_compiles_total",
    help: "Node programs compiled, per node (a change recompiles only the nodes it affects).",
    labelNames: ["node"],
    registers: [manager.registry],
  });
  let world: WorldIndex | undefined;
  let worldBuiltAt = 0;
  /** What this process last wrote per node program (a cache: the API server's copy decides). */
  const written = new Map<string, { resourceVersion?: string; text: string }>();
  let recentCompileMs = 0;
  const invalidate = () => {
    world = undefined;
  };
  function currentWorld(): WorldIndex {
    if (world) return world;
    const readyVPCs = vpcs.store.list().filter((v) => isReady(v) && v.status?.vni !== undefined);
    const w: World = {
      nodes: nodes.store
        .list()
        .filter((n) => !n.metadata.deletionTimestamp)
        .map((n) => ({ name: n.metadata.name ?? "", ip: n.status?.addresses?.[0]?.address ?? "" })),
      vpcs: readyVPCs.map((v) => ({
        name: v.metadata.name ?? "",
        cidr: v.spec.cidr,
        vni: v.status?.vni ?? 0,
        dividers: v.spec.dividers ?? 1,
      })),
      subnets: subnets.store
        .list()
        .filter((s) => isReady(s))
        .map((s) => ({
          name: s.metadata.name ?? "",
          vpc: s.spec.vpc,
          cidr: s.spec.cidr,
          gateway: s.status?.gateway ?? s.spec.gateway ?? formatIP(defaultGateway(parseCIDR(s.spec.cidr))),
          bouncers: s.spec.bouncers ?? 1,
        })),
      endpoints: endpoints.store.list().map((e) => ({
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
      })),
      namespaces: namespaces.store
        .list()
        .map((n) => ({ name: n.metadata.name ?? "", labels: n.metadata.labels ?? {} })),
      policies: policies.store.list(),
    };
    world = new WorldIndex(w);
    worldBuiltAt = performance.now();
    return world;
  }

  const programController = new Controller({
    name: "network-program",
    for: NodePrograms,
    concurrency: 2,
    logger: log,
    reconcile: async (req) => {
      const node = nodes.store.get(req.name);
      if (!node || node.metadata.deletionTimestamp) return; // the program goes with its Node (owner reference)
      // Rebuilding the index is O(endpoints): at most once per floor, so a burst of changes
      // costs a few rebuilds, not one per change. The floor grows with what a compile costs
      // (10x the slowest recent one), keeping compilation to about a tenth of this process's
      // time, so that it never starves endpoint provisioning. The key comes back when due.
      const floor = Math.min(WORLD_REBUILD_MAX_MS, Math.max(WORLD_REBUILD_MS, 10 * recentCompileMs));
      const sinceBuild = performance.now() - worldBuiltAt;
      if (!world && sinceBuild < floor) return { requeueAfterMs: Math.ceil(floor - sinceBuild) };
      const started = performance.now();
      const spec: NodeProgramSpec = buildNodeProgram(currentWorld(), req.name);
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
      const result = await apply<NodeProgram>(client, NodePrograms, {
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

  // A short delay batches a burst of changes (100 pods created at once) into one compile per node.
  const enqueueNodes = (names: Iterable<string>) => {
    for (const n of names) if (n && nodes.store.get(n)) programController.enqueue(n, 100);
  };
  const allNodes = () => {
    invalidate();
    bouncerCache = undefined;
    enqueueNodes(nodes.store.keys());
  };
  /** Nodes hosting endpoints a policy selects (its allow sets live there and only there). */
  const nodesSelectedBy = (p: NetworkPolicy): Set<string> => {
    const out = new Set<string>();
    for (const e of endpoints.store.byIndex("namespace", p.metadata.namespace ?? "")) {
      if (e.spec.node && matchesSelector(p.spec.podSelector, e.spec.podLabels ?? {})) out.add(e.spec.node);
    }
    return out;
  };
  /** Nodes whose allow sets name this endpoint as a peer (by selector; ipBlocks do not change). */
  const nodesPeering = (e: Endpoint): Set<string> => {
    const out = new Set<string>();
    const nsLabels = namespaces.store.get(e.metadata.namespace ?? "")?.metadata.labels ?? {};
    for (const p of policies.store.list()) {
      const rules = [...(p.spec.ingress ?? []).map((r) => r.from), ...(p.spec.egress ?? []).map((r) => r.to)];
      const names = rules.some((peers) =>
        (peers ?? []).some((peer) => {
          if (peer.ipBlock) return false;
          const nsOk = peer.namespaceSelector
            ? matchesSelector(peer.namespaceSelector, nsLabels)
            : p.metadata.namespace === e.metadata.namespace;
          return nsOk && matchesSelector(peer.podSelector, e.spec.podLabels ?? {});
        }),
      );
      if (names) for (const n of nodesSelectedBy(p)) out.add(n);
    }
    return out;
  };
  // Bouncer choice depends on nodes and subnets only: cached apart from the (large) world index.
  let bouncerCache: Map<string, string[]> | undefined;
  const bouncersOf = (subnet: string): string[] => {
    if (!bouncerCache) {
      bouncerCache = new Map();
      const names = nodes.store.keys().sort();
      for (const s of subnets.store.list())
        bouncerCache.set(
          s.metadata.name ?? "",
          pickNodes(`subnet:${s.metadata.name}`, names, s.spec.bouncers ?? 1),
        );
    }
    return bouncerCache.get(subnet) ?? [];
  };
  const endpointNodes = (e: Endpoint): string[] => [
    ...(e.spec.node ? [e.spec.node] : []),
    ...bouncersOf(e.spec.subnet),
    ...nodesPeering(e),
  ];
  endpoints.addEventHandler({
    onAdd: (e) => {
      const affected = endpointNodes(e);
      invalidate();
      enqueueNodes(affected);
    },
    onUpdate: (old, cur) => {
      if (canonicalJSON(old.spec) === canonicalJSON(cur.spec)) return;
      const affected = [...endpointNodes(old), ...endpointNodes(cur)];
      invalidate();
      enqueueNodes(affected);
    },
    onDelete: (e) => {
      const affected = endpointNodes(e);
      invalidate();
      enqueueNodes(affected);
    },
  });
  policies.addEventHandler({
    onAdd: (p) => {
      invalidate();
      enqueueNodes(nodesSelectedBy(p));
    },
    onUpdate: (old, cur) => {
      if (
        canonicalJSON(old.spec) === canonicalJSON(cur.spec) &&
        old.metadata.namespace === cur.metadata.namespace
      )
        return;
      invalidate();
      enqueueNodes([...nodesSelectedBy(old), ...nodesSelectedBy(cur)]);
    },
    onDelete: (p) => {
      invalidate();
      enqueueNodes(nodesSelectedBy(p));
    },
  });
  namespaces.addEventHandler({
    onUpdate: (old, cur) => {
      if (canonicalJSON(old.metadata.labels) !== canonicalJSON(cur.metadata.labels)) allNodes();
    },
  });
  const specOrReadinessChanged = (
    old: { metadata: { generation?: number }; status?: { conditions?: Condition[]; vni?: number } },
    cur: { metadata: { generation?: number }; status?: { conditions?: Condition[]; vni?: number } },
  ) =>
    old.metadata.generation !== cur.metadata.generation ||
    isReady(old) !== isReady(cur) ||
    old.status?.vni !== cur.status?.vni;
  for (const inf of [vpcs, subnets] as Array<Informer<VPC | Subnet>>) {
    inf.addEventHandler({
      onAdd: allNodes,
      onUpdate: (old, cur) => {
        if (specOrReadinessChanged(old, cur)) allNodes();
      },
      onDelete: allNodes,
    });
  }
  nodes.addEventHandler({
    onAdd: allNodes,
    onUpdate: (old, cur) => {
      if (canonicalJSON(old.status?.addresses) !== canonicalJSON(cur.status?.addresses)) allNodes();
    },
    onDelete: allNodes,
  });

  // VPC status lists its subnets; subnets follow their VPC's readiness and VNI.
  subnets.addEventHandler({
    onAdd: (s) => vpcController.enqueue(s.spec.vpc),
    onUpdate: (old, cur) => {
      if (old.spec.vpc !== cur.spec.vpc) vpcController.enqueue(old.spec.vpc);
      if (old.metadata.generation !== cur.metadata.generation) vpcController.enqueue(cur.spec.vpc);
    },
    onDelete: (s) => vpcController.enqueue(s.spec.vpc),
  });
  const wakeSubnetsOf = (v: VPC) => {
    for (const s of subnets.store.byIndex(SUBNET_VPC_INDEX, v.metadata.name ?? ""))
      subnetController.enqueue(s.metadata.name ?? "");
  };
  vpcs.addEventHandler({
    onAdd: wakeSubnetsOf,
    onUpdate: (_old, cur) => wakeSubnetsOf(cur),
    onDelete: (v) => {
      wakeSubnetsOf(v);
      // Overlap losers may now be free to go ahead.
      for (const o of vpcs.store.list()) vpcController.enqueue(o.metadata.name ?? "");
    },
  });
  subnets.addEventHandler({
    onDelete: (s) => {
      for (const o of subnets.store.byIndex(SUBNET_VPC_INDEX, s.spec.vpc))
        subnetController.enqueue(o.metadata.name ?? "");
    },
  });
  // Used/available counts follow the claims (coalesced by the queue).
  claims.addEventHandler({
    onAdd: (c) => subnetController.enqueue(c.spec.subnet),
    onDelete: (c) => subnetController.enqueue(c.spec.subnet),
  });
  // A claim whose pod disappears is checked by the sweeper.
  pods.addEventHandler({
    onDelete: (p) => {
      for (const c of claims.store.byIndex(CLAIM_POD_INDEX, `${p.metadata.namespace}/${p.metadata.name}`)) {
        claimController.enqueue(c.metadata.name ?? "", CLAIM_GRACE_MS);
      }
    },
  });

  const controllers = [
    vpcController,
    subnetController,
    endpointController,
    claimController,
    programController,
  ];
  for (const c of controllers) manager.add(c);
  return { controllers, compiles };
}
