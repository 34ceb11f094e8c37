// Finds the REST resource of an apiVersion/kind through the API server's discovery documents,
// so a mission can carry objects of any kind, CRDs included. Answers are cached per group
// version; a kind not found refreshes that group version once (a CRD installed later).

import type { KubeClient } from "../../pkg/kube/client.ts";
import { isNotFound } from "../../pkg/kube/errors.ts";
import type { ResourceType } from "../../pkg/kube/resource.ts";

interface APIResourceList {
  resources: Array<{ name: string; kind: string; namespaced: boolean }>;
}

export class Discovery {
  private readonly cache = new Map<string, { at: number; byKind: Map<string, ResourceType> }>();

  constructor(private readonly client: KubeClient) {}

  private async load(apiVersion: string): Promise<Map<string, ResourceType>> {
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/", 2) : ["", apiVersion];
    const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
    const byKind = new Map<string, ResourceType>();
    try {
      const list = await this.client.request<APIResourceList>("GET", path);
      for (const r of list.resources) {
        if (r.name.includes("/")) continue; // subresources
        byKind.set(r.kind, {
          group: group ?? "",
          version: version ?? "",
          plural: r.name,
          kind: r.kind,
          namespaced: r.namespaced,
        });
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.cache.set(apiVersion, { at: Date.now(), byKind });
    return byKind;
  }

  /** The resource for apiVersion/kind, or undefined when the cluster does not serve it. */
  async resourceFor(apiVersion: string, kind: string): Promise<ResourceType | undefined> {
    const cached = this.cache.get(apiVersion);
    const hit = cached?.byKind.get(kind);
    if (hit) return hit;
    // Refresh at most once a second per group version, so a missing kind does not hammer discovery.
    if (cached && Date.now() - cached.at < 1000) return undefined;
    return (await this.load(apiVersion)).get(kind);
  }
}
