// Edge liveness and the EdgeCluster's Ready condition (pure): when probes are due, when a child
// counts as Connected, and what Ready says.

import { expect } from "chai";
import fc from "fast-check";
import type { EdgeCluster } from "../../controllers/edge/api.ts";
import { childStateChanged, edgeReady, readyEvent } from "../../controllers/edge/edge-status.ts";
import {
  heartbeatTiming,
  isConnected,
  nextProbeInMs,
  probeDue,
  probeTimeoutMs,
} from "../../controllers/edge/liveness.ts";

describe("edge liveness", () => {
  it("defaults the heartbeat to 10 s and the disconnect timeout to 60 s", () => {
    expect(heartbeatTiming({} as never)).to.deep.equal({ periodMs: 10_000, timeoutMs: 60_000 });
    expect(heartbeatTiming({ heartbeatPeriodSeconds: 1, disconnectTimeoutSeconds: 5 })).to.deep.equal({
      periodMs: 1000,
      timeoutMs: 5000,
    });
  });

  it("a probe is due once a period (less 50 ms of slack) has passed", () => {
    expect(probeDue(0, 1000, 949)).to.equal(false);
    expect(probeDue(0, 1000, 950)).to.equal(true);
    fc.assert(
      fc.property(fc.nat(1e9), fc.integer({ min: 100, max: 1e6 }), fc.nat(1e6), (last, period, dt) => {
        expect(probeDue(last, period, last + dt)).to.equal(dt >= period - 50);
      }),
    );
  });

  it("a probe may take half the timeout at most, and at least the period or 3 s within that", () => {
    expect(probeTimeoutMs({ periodMs: 1000, timeoutMs: 5000 })).to.equal(2500);
    expect(probeTimeoutMs({ periodMs: 10_000, timeoutMs: 60_000 })).to.equal(10_000);
    expect(probeTimeoutMs({ periodMs: 1000, timeoutMs: 60_000 })).to.equal(3000);
  });

  it("the next look is at the next heartbeat, never sooner than 50 ms", () => {
    expect(nextProbeInMs(1000, 1000, 1200)).to.equal(800);
    expect(nextProbeInMs(1000, 1000, 5000)).to.equal(50);
  });

  it("Connected needs an answer since start; a failing child stays Connected until the timeout", () => {
    const base = { now: 10_000, timeoutMs: 5000, recordedHeartbeat: undefined };
    expect(isConnected({ ...base, lastError: undefined, lastHeartbeat: undefined })).to.equal(false);
    expect(isConnected({ ...base, lastError: undefined, lastHeartbeat: new Date(1) })).to.equal(true);
    expect(isConnected({ ...base, lastError: "x", lastHeartbeat: new Date(6000) })).to.equal(true);
    expect(isConnected({ ...base, lastError: "x", lastHeartbeat: new Date(5000) })).to.equal(false);
    // The recorded heartbeat alone (from before a restart) does not make it Connected.
    expect(
      isConnected({
        ...base,
        lastError: "x",
        lastHeartbeat: undefined,
        recordedHeartbeat: new Date(9000).toISOString(),
      }),
    ).to.equal(false);
  });
});

describe("edge status: Ready", () => {
  const timing = { periodMs: 1000, timeoutMs: 5000 };
  const secretRef = { namespace: "ns", name: "kc" };
  const accepted = { accepted: true as const };

  it("a refused attachment says why", () => {
    const r = edgeReady({
      verdict: { accepted: false, reason: "Cycle", message: "loop" },
      connected: true,
      lastError: undefined,
      everAnswered: true,
      timing,
      secretRef,
    });
    expect(r).to.deep.equal({ type: "Ready", status: "False", reason: "Cycle", message: "loop" });
  });

  it("Connected, with the last failure if any", () => {
    const ok = edgeReady({
      verdict: accepted,
      connected: true,
      lastError: undefined,
      everAnswered: true,
      timing,
      secretRef,
    });
    expect(ok).to.include({ status: "True", reason: "Connected", message: "heartbeat every 1 s" });
    const flaky = edgeReady({
      verdict: accepted,
      connected: true,
      lastError: "boom",
      everAnswered: true,
      timing,
      secretRef,
    });
    expect(flaky.message).to.equal("last heartbeat failed (boom); disconnected after 5 s without one");
  });

  it("Unreachable when it never answered, HeartbeatTimeout when it did", () => {
    const never = edgeReady({
      verdict: accepted,
      connected: false,
      lastError: undefined,
      everAnswered: false,
      timing,
      secretRef,
    });
    expect(never).to.include({ status: "False", reason: "Unreachable" });
    expect(never.message).to.equal("the cluster in Secret ns/kc does not answer: no heartbeat yet");
    const gone = edgeReady({
      verdict: accepted,
      connected: false,
      lastError: "down",
      everAnswered: true,
      timing,
      secretRef,
    });
    expect(gone).to.include({ reason: "HeartbeatTimeout", message: "no heartbeat for more than 5 s: down" });
  });

  it("an event only when the reason changes, Warning unless True", () => {
    const ready = { type: "Ready", status: "True" as const, reason: "Connected", message: "m" };
    expect(readyEvent("Connected", ready)).to.equal(undefined);
    expect(readyEvent(undefined, ready)).to.deep.equal({ type: "Normal", reason: "Connected", message: "m" });
    expect(readyEvent("Connected", { ...ready, status: "False", reason: "HeartbeatTimeout" })?.type).to.equal(
      "Warning",
    );
  });

  it("missions re-run on a child's connection, Ready reason or deletion, not on a heartbeat", () => {
    const ec = (status: EdgeCluster["status"], deletionTimestamp?: string): EdgeCluster => ({
      apiVersion: "edge.centaurus.io/v1alpha1",
      kind: "EdgeCluster",
      metadata: { name: "c", ...(deletionTimestamp ? { deletionTimestamp } : {}) },
      spec: { kubeconfigSecretRef: { namespace: "n", name: "s" } } as EdgeCluster["spec"],
      status,
    });
    const ready = (reason: string) => [
      { type: "Ready", status: "True" as const, reason, message: "", lastTransitionTime: "t" },
    ];
    const base = ec({ connection: "Connected", lastHeartbeat: "a", conditions: ready("Connected") });
    expect(childStateChanged(base, ec({ ...base.status, lastHeartbeat: "b", nodes: { ready: 1, total: 1 } })))
      .to.be.false;
    expect(childStateChanged(base, ec({ ...base.status, connection: "Disconnected" }))).to.be.true;
    expect(childStateChanged(base, ec({ ...base.status, conditions: ready("Cycle") }))).to.be.true;
    expect(childStateChanged(base, ec(base.status, "2026-01-01T00:00:00Z"))).to.be.true;
  });
});
