// What every network reconciler is given: the API client, the event recorder, a logger, the
// pillar's informers and the factory they come from.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import { applyStatus } from "../../pkg/kube/apply.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { canonicalJSON, type KubeObject } from "../../pkg/kube/object.ts";
import type { ResourceType } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import type { EventRecorder } from "../../pkg/status/events.ts";
import type { NetworkInformers } from "./informers.ts";
import type { StatusDecision } from "./status.ts";

export interface NetworkDeps {
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  factory: SharedInformerFactory;
  inf: NetworkInformers;
}

/**
 * Records a decision's events, then writes its status through the status subresource when it
 * differs from the cached one (a local stand-in for pkg/status StatusWriter until it lands).
 */
export async function writeStatus<T extends KubeObject>(
  deps: NetworkDeps,
  rt: ResourceType,
  current: T & { status?: unknown },
  decision: StatusDecision<object>,
): Promise<T | undefined> {
  for (const e of decision.events) await deps.events.record(current, e.type, e.reason, e.message);
  if (canonicalJSON(decision.status) === canonicalJSON(current.status ?? {})) return undefined;
  return applyStatus<T>(
    deps.client,
    rt,
    current.metadata.name ?? "",
    current.metadata.namespace,
    decision.status,
  );
}
