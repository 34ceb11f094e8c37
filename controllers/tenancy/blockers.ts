// Which objects hold a terminating namespace: the namespace controller reports the kinds
// that remain ("configmaps. has 1 resource instances") and the finalizers; this names the
// objects, so a Tenant's status can say exactly what its deletion waits for.

import type { KubeClient } from "../../pkg/kube/client.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import type { ResourceType } from "../../pkg/kube/resource.ts";

interface NamespaceLike extends KubeObject {
  status?: { conditions?: Array<{ type: string; status: string; message?: string }> };
}

/** Resource and group of each kind the namespace controller says remains (pure). */
export function remainingKinds(message: string): Array<{ resource: string; group: string }> {
  const out: Array<{ resource: string; group: string }> = [];
  for (const m of message.matchAll(/([a-z0-9-]+)\.([a-z0-9.-]*) has \d+ resource instances/g)) {
    out.push({ resource: m[1] ?? "", group: m[2] ?? "" });
  }
  return out;
}

/** The conditions a terminating namespace reports as holding it (pure). */
export function holdingConditions(
  ns: NamespaceLike,
): Array<{ type: string; status: string; message?: string }> {
  return (ns.status?.conditions ?? []).filter(
    (c) => c.status === "True" && c.type !== "NamespaceDeletionDiscoveryFailure",
  );
}

/** True when finalizers hold the namespace (the objects are worth naming). */
export function heldByFinalizers(ns: NamespaceLike): boolean {
  return holdingConditions(ns).some((c) => c.type === "NamespaceFinalizersRemaining");
}

/** The status line for one namespace still being deleted, given the objects that hold it (pure). */
export function waitingForLine(ns: NamespaceLike, held: readonly string[]): string {
  const detail = holdingConditions(ns)
    .map((c) => c.message)
    .filter(Boolean);
  const why = held.length
    ? `: waiting for ${held.join(", ")}`
    : detail.length
      ? `: ${detail.join("; ")}`
      : ": deleting its content";
  return `namespace ${ns.metadata.name ?? ""}${why}`;
}

export class BlockerFinder {
  private readonly versions = new Map<string, string>();
  private readonly recent = new Map<string, { at: number; found: string[] }>();

  constructor(
    private readonly client: KubeClient,
    private readonly cacheMs = 2000,
  ) {}

  /** "configmaps/name (finalizers: a, b)" for each object with finalizers in the namespace. */
  async find(ns: NamespaceLike): Promise<string[]> {
    const name = ns.metadata.name ?? "";
    const hit = this.recent.get(name);
    if (hit && Date.now() - hit.at < this.cacheMs) return hit.found;
    const content = ns.status?.conditions?.find((c) => c.type === "NamespaceContentRemaining")?.message ?? "";
    const found: string[] = [];
    for (const { resource, group } of remainingKinds(content)) {
      try {
        const version = await this.versionOf(group);
        const rt: ResourceType = { group, version, plural: resource, kind: resource, namespaced: true };
        const list = await this.client.list(rt, { namespace: name, limit: 500 });
        for (const o of list.items) {
          const f = o.metadata.finalizers ?? [];
          if (f.length)
            found.push(
              `${resource}${group ? `.${group}` : ""}/${o.metadata.name} (finalizers: ${f.join(", ")})`,
            );
        }
      } catch {
        // Unlistable kinds are reported by the namespace's own condition message instead.
      }
    }
    this.recent.set(name, { at: Date.now(), found });
    if (this.recent.size > 1000) this.recent.delete(this.recent.keys().next().value as string);
    return found;
  }

  /** The group's preferred version (discovery, remembered). */
  async versionOf(group: string): Promise<string> {
    if (!group) return "v1";
    const known = this.versions.get(group);
    if (known) return known;
    const g = await this.client.request<{ preferredVersion?: { version?: string } }>("GET", `/apis/${group}`);
    const v = g.preferredVersion?.version ?? "v1";
    this.versions.set(group, v);
    return v;
  }
}
