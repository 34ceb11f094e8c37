// What a Tenant reports: the Ready condition's reason and message from what converging found
// (pure), and the one way its status is written.

import { applyStatus } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { isNotFound } from "../../pkg/kube/errors.ts";
import { type Tenant, TenantResource, type TenantStatus } from "./api.ts";

export interface Readiness {
  ready: boolean;
  reason: "NamespaceConflict" | "Provisioning" | "Provisioned" | "QuotaSyncing";
  message: string;
}

/** Ready, reason and message of an active tenant (pure). */
export function activeReadiness(
  problems: readonly string[],
  missing: readonly string[],
  namespaceCount: number,
  quotaSynced: boolean,
): Readiness {
  if (problems.length) return { ready: false, reason: "NamespaceConflict", message: problems.join("; ") };
  if (missing.length)
    return { ready: false, reason: "Provisioning", message: `creating namespaces ${missing.join(", ")}` };
  if (quotaSynced)
    return { ready: true, reason: "Provisioned", message: `${namespaceCount} namespaces ready` };
  return {
    ready: false,
    reason: "QuotaSyncing",
    message: "waiting for the quota controller to report use in every namespace",
  };
}

/**
 * Server-side applies the status unless it says what the tenant already says (conditions'
 * lastTransitionTime aside). Not pkg/status StatusWriter: that one merge-patches, which would
 * keep fields this status no longer sends (waitingFor once a tenant is active again), and
 * records an event on every Ready reason change, which this controller does not.
 */
export async function writeStatus(client: KubeClient, t: Tenant, status: TenantStatus): Promise<void> {
  const strip = (s: TenantStatus | undefined) =>
    JSON.stringify({ ...s, conditions: s?.conditions?.map(({ lastTransitionTime: _x, ...c }) => c) });
  if (strip(t.status) === strip(status)) return;
  try {
    await applyStatus(client, TenantResource, t.metadata.name ?? "", undefined, status);
  } catch (err) {
    // Deleted since the cache saw it: nothing left to report on.
    if (!isNotFound(err)) throw err;
  }
}
