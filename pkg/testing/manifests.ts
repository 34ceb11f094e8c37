// Applying YAML documents (samples, docs' worked examples) the way `kubectl apply --server-side`
// does: each document by server-side apply, with its resource type found through discovery.

import { parseAllDocuments } from "yaml";
import { apply } from "../kube/apply.ts";
import type { KubeClient } from "../kube/client.ts";
import { isNotFound, isQuotaUncounted } from "../kube/errors.ts";
import type { KubeObject } from "../kube/object.ts";
import type { ResourceType } from "../kube/resource.ts";

interface APIResourceList {
  resources: Array<{ name: string; kind: string; namespaced: boolean }>;
}

/** Finds the REST resource of apiVersion+kind through the API server's discovery. */
export async function discoverResource(
  client: KubeClient,
  apiVersion: string,
  kind: string,
): Promise<ResourceType> {
  const [group, version] = apiVersion.includes("/")
    ? (apiVersion.split("/") as [string, string])
    : ["", apiVersion];
  const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const list = await client.request<APIResourceList>("GET", path);
  const r = list.resources.find((x) => x.kind === kind && !x.name.includes("/"));
  if (!r) throw new Error(`the API server does not serve ${kind} in ${apiVersion}: are the CRDs installed?`);
  return { group, version, plural: r.name, kind, namespaced: r.namespaced };
}

export function parseYamlDocuments(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJSON() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === "object" && typeof o.kind === "string");
}

/**
 * Applies every document in order; returns what the server answered. A document whose
 * namespace does not exist yet (one an operator creates, such as a tenant's), or whose
 * namespace's quota is not counted yet, is retried until `waitForNamespaceMs` has passed.
 */
export async function applyYaml(
  client: KubeClient,
  text: string,
  opts: { waitForNamespaceMs?: number } = {},
): Promise<Array<{ resource: ResourceType; object: KubeObject }>> {
  const out: Array<{ resource: ResourceType; object: KubeObject }> = [];
  for (const doc of parseYamlDocuments(text)) {
    const resource = await discoverResource(client, doc.apiVersion ?? "v1", doc.kind ?? "");
    const deadline = Date.now() + (opts.waitForNamespaceMs ?? 60_000);
    for (;;) {
      try {
        out.push({ resource, object: await apply(client, resource, doc) });
        break;
      } catch (err) {
        const missingNamespace = isNotFound(err) && /namespaces? "[^"]+" not found/.test(String(err));
        if (!(missingNamespace || isQuotaUncounted(err)) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
  return out;
}
