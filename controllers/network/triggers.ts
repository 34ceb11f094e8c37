// Why each network controller runs: the mappers (a changed object → the keys to reconcile)
// and predicates (which changes count) of its declared watches. Pure over the caches' stores.

import type { Store } from "../../pkg/cache/store.ts";
import type { Predicate } from "../../pkg/controller/watch.ts";
import type { NetworkPolicy, Node, Pod } from "../../pkg/kube/core.ts";
import { canonicalJSON, type KubeObject } from "../../pkg/kube/object.ts";
import type { Condition } from "../../pkg/status/conditions.ts";
import type { Endpoint, IPAddress, Subnet, VPC } from "./api.ts";
import { annotatedSubnets } from "./endpoint-desired.ts";
import { CLAIM_POD_INDEX, SUBNET_VPC_INDEX } from "./informers.ts";
import { isReady } from "./status.ts";

/** Claims younger than this are left alone by the claim sweeper (their pod may not be cached yet). */
export const CLAIM_GRACE_MS = 10_000;
/** A short delay batches a burst of changes (100 pods created at once) into one compile per node. */
export const PROGRAM_BATCH_MS = 100;

// ---------------------------------------------------------------- VPC and subnet status

/** A subnet → its VPC (whose status lists its subnets). */
export const subnetVPCs = (s: Subnet): string[] => [s.spec.vpc];
export const subnetVPCChanged: Predicate<Subnet> = {
  update: (old, cur) => old.spec.vpc !== cur.spec.vpc || old.metadata.generation !== cur.metadata.generation,
};
/** Any VPC → every VPC (a deleted overlap winner frees the losers). */
export const allVPCs = (store: Store<VPC>) => (): string[] => store.keys();
/** A VPC → its subnets (they follow its readiness and VNI). */
export const subnetsOfVPC =
  (store: Store<Subnet>) =>
  (v: VPC): string[] =>
    store.byIndex(SUBNET_VPC_INDEX, v.metadata.name ?? "").map((s) => s.metadata.name ?? "");
/** A subnet → the other subnets of its VPC (an overlap winner's deletion frees the losers). */
export const siblingSubnets =
  (store: Store<Subnet>) =>
  (s: Subnet): string[] =>
    store.byIndex(SUBNET_VPC_INDEX, s.spec.vpc).map((o) => o.metadata.name ?? "");
/** A claim → its subnet (used and available counts). */
export const claimSubnet = (c: IPAddress): string[] => [c.spec.subnet];

// ---------------------------------------------------------------- endpoints and claims

export const subnetReadinessChanged: Predicate<Subnet> = {
  update: (old, cur) => isReady(old) !== isReady(cur) || old.metadata.generation !== cur.metadata.generation,
};
/** A subnet → the pods that default to it (its namespaces) or name it (annotation). */
export const podsOfSubnet =
  (pods: Store<Pod>) =>
  (s: Subnet): string[] => {
    const name = s.metadata.name ?? "";
    const keys: string[] = [];
    for (const ns of s.spec.namespaces ?? []) {
      for (const p of pods.byIndex("namespace", ns)) keys.push(`${ns}/${p.metadata.name}`);
    }
    for (const p of pods.list()) {
      if (annotatedSubnets(p)?.includes(name)) keys.push(`${p.metadata.namespace}/${p.metadata.name}`);
    }
    return keys;
  };
/** An Endpoint → its pod. */
export const endpointPod = (e: Endpoint): string[] => [`${e.metadata.namespace}/${e.spec.pod.name}`];
/** A pod → the claims made for it. */
export const claimsOfPod =
  (claims: Store<IPAddress>) =>
  (p: KubeObject): string[] =>
    claims
      .byIndex(CLAIM_POD_INDEX, `${p.metadata.namespace}/${p.metadata.name}`)
      .map((c) => c.metadata.name ?? "");

// ---------------------------------------------------------------- node programs

const sameJSON = (a: unknown, b: unknown) => canonicalJSON(a) === canonicalJSON(b);
export const endpointSpecChanged: Predicate<Endpoint> = {
  update: (old, cur) => !sameJSON(old.spec, cur.spec),
};
export const policyChanged: Predicate<NetworkPolicy> = {
  update: (old, cur) => !sameJSON(old.spec, cur.spec) || old.metadata.namespace !== cur.metadata.namespace,
};
export const namespaceLabelsChanged: Predicate<KubeObject> = {
  create: () => false,
  delete: () => false,
  update: (old, cur) => !sameJSON(old.metadata.labels, cur.metadata.labels),
};
type Readiness = { metadata: { generation?: number }; status?: { conditions?: Condition[]; vni?: number } };
export const specOrReadinessChanged: Predicate<Readiness> = {
  update: (old, cur) =>
    old.metadata.generation !== cur.metadata.generation ||
    isReady(old) !== isReady(cur) ||
    old.status?.vni !== cur.status?.vni,
};
export const nodeAddressesChanged: Predicate<Node> = {
  update: (old, cur) => !sameJSON(old.status?.addresses, cur.status?.addresses),
};
/** Only nodes that exist get a program. */
export const existingNodes =
  (nodes: Store<Node>) =>
  (names: Iterable<string>): string[] =>
    [...names].filter((n) => n && nodes.get(n));
