// Whether a child is alive (pure): when a heartbeat probe is due, how long a probe may take,
// and when a child whose probes fail counts as Disconnected (the disconnect timeout passed
// since its last answer). Heartbeats only decide liveness; status flows up by watches.

import type { EdgeClusterSpec } from "./api.ts";

/** A probe is due this much before its period ends, so a requeue that fires a little early still probes. */
export const PROBE_SLACK_MS = 50;

export interface HeartbeatTiming {
  periodMs: number;
  timeoutMs: number;
}

export function heartbeatTiming(
  spec: Pick<EdgeClusterSpec, "heartbeatPeriodSeconds" | "disconnectTimeoutSeconds">,
): HeartbeatTiming {
  return {
    periodMs: (spec.heartbeatPeriodSeconds ?? 10) * 1000,
    timeoutMs: (spec.disconnectTimeoutSeconds ?? 60) * 1000,
  };
}

/** A heartbeat (and a fresh read of the kubeconfig Secret) is due once a period has passed. */
export function probeDue(lastProbeAt: number, periodMs: number, now: number): boolean {
  return now - lastProbeAt >= periodMs - PROBE_SLACK_MS;
}

/** How long one probe may take: generous on a busy machine, yet short enough to try again before the timeout. */
export function probeTimeoutMs(t: HeartbeatTiming): number {
  return Math.min(t.timeoutMs / 2, Math.max(t.periodMs, 3000));
}

/** When to look again: at the next heartbeat, never sooner than 50 ms from now. */
export function nextProbeInMs(lastProbeAt: number, periodMs: number, now: number): number {
  return Math.max(50, lastProbeAt + periodMs - now);
}

export interface LivenessInput {
  /** The last probe's error; undefined when it answered. */
  lastError: string | undefined;
  /** When this process last got an answer (undefined: not since it started). */
  lastHeartbeat: Date | undefined;
  /** The last heartbeat the EdgeCluster's status records (from before a restart). */
  recordedHeartbeat: string | undefined;
  now: number;
  timeoutMs: number;
}

/**
 * Connected: this process got an answer, and either the last probe answered or the last answer
 * (this process's, else the recorded one) is younger than the disconnect timeout.
 */
export function isConnected(i: LivenessInput): boolean {
  const since = i.lastHeartbeat ?? (i.recordedHeartbeat ? new Date(i.recordedHeartbeat) : undefined);
  const alive = i.lastError === undefined || (since !== undefined && i.now - since.getTime() < i.timeoutMs);
  return alive && i.lastHeartbeat !== undefined;
}
