// The objects a Tenant owns, applied and pruned: its namespaces (never taking over someone
// else's), the per-namespace RBAC, isolation and defaults, and the cluster-scoped reader role.
// Each is written only when the cache shows it differs from what desired.ts asks for.

import { apply } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { isNotFound } from "../../pkg/kube/errors.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import type { EventRecorder } from "../../pkg/status/events.ts";
import { LimitRangeResource, SHORT_NAME_LABEL, TENANT_LABEL, type Tenant } from "./api.ts";
import {
  covers,
  DEFAULTS_LIMIT_RANGE,
  desiredClusterObjects,
  desiredNamespacedObjects,
  desiredNamespaces,
  ISOLATION_POLICY,
  TENANT_ADMIN_ROLE,
  TENANT_MEMBER_ROLE,
  TENANT_VIEWER_ROLE,
} from "./desired.ts";

export interface NamespaceObject extends KubeObject {
  status?: {
    phase?: string;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  };
}

/** The tenant's cached objects of one kind. */
export type OwnedLookup = (rt: ResourceType) => KubeObject[];

/** The tenant's cached objects of one kind by "namespace/name" (or "name" when cluster-scoped). */
export function ownedByName<T extends KubeObject>(owned: OwnedLookup, rt: ResourceType): Map<string, T> {
  return new Map(
    owned(rt).map((o) => [
      o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata.name ?? ""),
      o as T,
    ]),
  );
}

export interface NamespaceOutcome {
  /** Every namespace the tenant lists. */
  wanted: Set<string>;
  /** Listed ones the cache shows and that are not going away. */
  live: string[];
  /** Listed ones the cache does not show yet. */
  missing: string[];
  /** Why some could not be had (another owner's namespace of that name). */
  problems: string[];
}

/** Creates/labels the wanted namespaces, deletes those taken off the list. */
export async function keepNamespaces(
  client: KubeClient,
  t: Tenant,
  owned: OwnedLookup,
  events: EventRecorder,
): Promise<NamespaceOutcome> {
  const existing = ownedByName<NamespaceObject>(owned, Resources.Namespace);
  const wanted = desiredNamespaces(t);
  const wantedNames = new Set(wanted.map((n) => n.metadata.name ?? ""));
  const problems: string[] = [];
  await Promise.all(
    wanted.map(async (ns) => {
      const problem = await applyNamespace(client, t, ns, existing.get(ns.metadata.name ?? ""));
      if (problem) problems.push(problem);
    }),
  );
  await pruneNamespaces(client, t, existing, wantedNames, events);
  const live = [...wantedNames].filter((n) => {
    const ns = existing.get(n);
    return ns && !ns.metadata.deletionTimestamp;
  });
  const missing = [...wantedNames].filter((n) => !existing.has(n));
  return { wanted: wantedNames, live, missing, problems };
}

/** Applies one wanted namespace unless the cache shows it as wanted; a problem when it is someone else's. */
async function applyNamespace(
  client: KubeClient,
  t: Tenant,
  ns: KubeObject,
  current: NamespaceObject | undefined,
): Promise<string | undefined> {
  const name = t.metadata.name ?? "";
  const nsName = ns.metadata.name ?? "";
  if (current && covers(current.metadata, ns.metadata) && sameRuntimeLabels(current, ns)) return;
  if (!current) {
    // Someone else's namespace with this name is not taken over.
    try {
      const other = await client.get<NamespaceObject>(Resources.Namespace, nsName);
      if (other.metadata.labels?.[TENANT_LABEL] !== name) {
        return `namespace ${nsName} exists and does not belong to tenant ${name}`;
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  await apply(client, Resources.Namespace, ns);
  return undefined;
}

async function pruneNamespaces(
  client: KubeClient,
  t: Tenant,
  existing: Map<string, NamespaceObject>,
  wanted: ReadonlySet<string>,
  events: EventRecorder,
): Promise<void> {
  for (const [nsName, ns] of existing) {
    if (!wanted.has(nsName) && ns.metadata.labels?.[SHORT_NAME_LABEL] && !ns.metadata.deletionTimestamp) {
      await client.delete(Resources.Namespace, nsName);
      await events.record(
        t,
        "Normal",
        "NamespaceRemoved",
        `namespace ${nsName} is no longer listed: deleting it`,
      );
    }
  }
}

/** Whether two namespaces carry the same runtime-class labels (covers() ignores labels gone). */
export function sameRuntimeLabels(a: KubeObject, b: KubeObject): boolean {
  const pick = (o: KubeObject) =>
    Object.keys(o.metadata.labels ?? {})
      .filter((k) => k.startsWith("runtimeclass.") || k.endsWith("runtime-classes-restricted"))
      .sort()
      .join(",");
  return pick(a) === pick(b);
}

const NAMESPACED = {
  role: { type: Resources.Role, name: TENANT_ADMIN_ROLE },
  roleBinding: { type: Resources.RoleBinding, name: TENANT_ADMIN_ROLE },
  memberRole: { type: Resources.Role, name: TENANT_MEMBER_ROLE },
  memberBinding: { type: Resources.RoleBinding, name: TENANT_MEMBER_ROLE },
  viewerRole: { type: Resources.Role, name: TENANT_VIEWER_ROLE },
  viewerBinding: { type: Resources.RoleBinding, name: TENANT_VIEWER_ROLE },
  networkPolicy: { type: Resources.NetworkPolicy, name: ISOLATION_POLICY },
  limitRange: { type: LimitRangeResource, name: DEFAULTS_LIMIT_RANGE },
} as const;

/** Per-namespace RBAC, isolation and defaults: applied when they differ, deleted when not wanted. */
export async function keepNamespacedObjects(
  client: KubeClient,
  t: Tenant,
  namespaces: string[],
  owned: OwnedLookup,
): Promise<void> {
  const kinds = Object.keys(NAMESPACED) as Array<keyof typeof NAMESPACED>;
  const current = Object.fromEntries(kinds.map((k) => [k, ownedByName(owned, NAMESPACED[k].type)])) as Record<
    keyof typeof NAMESPACED,
    Map<string, KubeObject>
  >;
  await Promise.all(
    namespaces.map(async (ns) => {
      const desired = desiredNamespacedObjects(t, ns);
      for (const kind of kinds) {
        const { type, name } = NAMESPACED[kind];
        const want = desired[kind];
        const have = current[kind].get(`${ns}/${name}`);
        if (!want) {
          if (have) await client.delete(type, name, ns);
          continue;
        }
        const { metadata: _m, ...wantBody } = want;
        if (have && covers(have, wantBody) && covers(have.metadata.labels, want.metadata.labels)) continue;
        await apply(client, type, want);
      }
    }),
  );
}

/** The cluster-scoped role that lets the tenant's admins read their Tenant, and its binding. */
export async function keepClusterObjects(client: KubeClient, t: Tenant, owned: OwnedLookup): Promise<void> {
  const cluster = desiredClusterObjects(t);
  const crName = cluster.clusterRole.metadata.name ?? "";
  const haveCr = ownedByName(owned, Resources.ClusterRole).get(crName);
  if (!haveCr || !covers(haveCr, { rules: (cluster.clusterRole as KubeObject & { rules: unknown }).rules }))
    await apply(client, Resources.ClusterRole, cluster.clusterRole);
  const haveCrb = ownedByName(owned, Resources.ClusterRoleBinding).get(crName);
  const { metadata: _crbMeta, ...crbBody } = cluster.clusterRoleBinding;
  if (!haveCrb || !covers(haveCrb, crbBody))
    await apply(client, Resources.ClusterRoleBinding, cluster.clusterRoleBinding);
}
