// What every network reconciler is given: the API client, the event recorder, the status
// writer, a logger and the pillar's informers.

import type { KubeClient } from "../../pkg/kube/client.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import type { ResourceType } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import type { EventRecorder } from "../../pkg/status/events.ts";
import type { StatusWriter } from "../../pkg/status/status-writer.ts";
import type { NetworkInformers } from "./informers.ts";
import type { StatusDecision } from "./status.ts";

export interface NetworkDeps {
  client: KubeClient;
  events: EventRecorder;
  /** Built without an event recorder: the decisions choose their events (see writeStatus). */
  status: StatusWriter;
  log: Logger;
  inf: NetworkInformers;
}

/**
 * Records a decision's events, then writes its status through pkg's StatusWriter (no request
 * when unchanged). A thin adapter rather than StatusWriter's own events: the network decisions
 * (status.ts) emit VNIAllocated and a Warning when a problem's reason changes, not an event
 * on every Ready reason change, and the tests assert exactly those events.
 */
export async function writeStatus<T extends KubeObject & { status?: object }>(
  deps: NetworkDeps,
  rt: ResourceType<T>,
  current: T,
  decision: StatusDecision<NonNullable<T["status"]>>,
): Promise<T | undefined> {
  for (const e of decision.events) await deps.events.record(current, e.type, e.reason, e.message);
  return deps.status.write(rt, current, decision.status);
}
