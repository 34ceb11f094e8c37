// What a Tenant reports: the Ready condition's reason and message from what converging found
// (pure), and the one way its status is written.

import type { KubeClient } from "../../pkg/kube/client.ts";
import { StatusWriter } from "../../pkg/status/status-writer.ts";
import { type Tenant, TenantResource, type TenantStatus } from "./api.ts";

export interface Readiness {
  ready: boolean;
  reason: "NamespaceConflict" | "Provisioning" | "Provisioned" | "LedgerPending";
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
    reason: "LedgerPending",
    message: "creating the tenant's quota ledger (creates in its namespaces are refused until it exists)",
  };
}

/** Writes the status through the one status writer (whole, by apply; nothing when unchanged). */
export async function writeStatus(client: KubeClient, t: Tenant, status: TenantStatus): Promise<void> {
  await new StatusWriter(client).write(TenantResource, t, status);
}
