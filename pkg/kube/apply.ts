// Writes that controllers make: server-side apply of owned objects and status, and
// read-modify-write with conflict retries.

import type { KubeClient } from "./client.ts";
import { isConflict } from "./errors.ts";
import type { KubeObject } from "./object.ts";
import { apiVersionOf, type ResourceType } from "./resource.ts";

/**
 * Server-side apply with field manager "centaurus" (forced: the controller owns these fields).
 * The object must carry the fields this manager owns and nothing else; fields it stops sending
 * are removed, fields other managers set are kept.
 */
export function apply<T extends KubeObject>(client: KubeClient, rt: ResourceType, obj: T): Promise<T> {
  const { name, namespace } = obj.metadata;
  if (!name) throw new Error(`apply ${rt.kind}: metadata.name is required`);
  const body = { ...obj, apiVersion: apiVersionOf(rt), kind: rt.kind };
  return client.patch<T>(rt, name, namespace, "apply", body);
}

/** Server-side apply of the status subresource. */
export function applyStatus<T extends KubeObject>(
  client: KubeClient,
  rt: ResourceType,
  name: string,
  namespace: string | undefined,
  status: unknown,
): Promise<T> {
  const body = { apiVersion: apiVersionOf(rt), kind: rt.kind, metadata: { name, namespace }, status };
  return client.patch<T>(rt, name, namespace, "apply", body, { subresource: "status" });
}

/**
 * Runs a read-modify-write until it does not conflict (another writer changed the object in
 * between). The callback must re-read what it modifies on each attempt.
 */
export async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 8): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!isConflict(err) || i >= attempts) throw err;
      // Small jittered pause so two conflicting writers do not collide in lock-step.
      await new Promise((r) => setTimeout(r, Math.random() * 10 * i));
    }
  }
}
