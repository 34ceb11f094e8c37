// network-endpoint: pods (and VM launcher pods) → IPAddress claim + Endpoint + IP annotation,
// per interface; the decisions are in endpoint-desired.ts, the claims in claims.ts.

import { Controller } from "../../pkg/controller/controller.ts";
import { deletedOnly } from "../../pkg/controller/predicates.ts";
import { watch } from "../../pkg/controller/watch.ts";
import { apply } from "../../pkg/kube/apply.ts";
import type { Pod } from "../../pkg/kube/core.ts";
import { isConflict, isNotFound } from "../../pkg/kube/errors.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import { TENANT_LABEL } from "../shared/tenant.ts";
import { allowedSubnets, subnetRefusal } from "./access.ts";
import { Endpoints, Subnets } from "./api.ts";
import { AddressQuotaError, type Claims } from "./claims.ts";
import type { NetworkDeps } from "./deps.ts";
import {
  desiredEndpoint,
  endpointAction,
  endpointDiffers,
  endpointName,
  ipAnnotations,
  podHoldsAddresses,
  wantedSubnets,
  withNamespaceTenant,
} from "./endpoint-desired.ts";
import {
  ENDPOINT_INFORMER,
  ENDPOINT_POD_INDEX,
  SUBNET_INFORMER,
  SUBNET_NAMESPACE_INDEX,
} from "./informers.ts";
import { isReady, readyCondition } from "./status.ts";
import { endpointPod, podsOfSubnet, subnetReadinessChanged } from "./triggers.ts";

const ignoreGone = (err: unknown) => {
  if (!isNotFound(err) && !isConflict(err)) throw err;
};

/** Deletes the pod's Endpoints and claims except those of incarnation keepUID named in keep. */
async function releasePod(
  deps: NetworkDeps,
  claims: Claims,
  namespace: string,
  pod: string,
  keepUID: string | undefined,
  keep: Set<string>,
) {
  for (const ep of deps.inf.endpoints.store.byIndex(ENDPOINT_POD_INDEX, `${namespace}/${pod}`)) {
    if (ep.spec.pod.uid === keepUID && keep.has(ep.metadata.name ?? "")) continue;
    await deps.client
      .delete(Endpoints, ep.metadata.name ?? "", namespace, { preconditionUid: ep.metadata.uid })
      .catch(ignoreGone);
  }
  for (const c of claims.ofPod(namespace, pod)) {
    if (c.spec.endpoint.podUID === keepUID && keep.has(c.spec.endpoint.name)) continue;
    await claims.delete(c);
  }
  claims.forgetPod(namespace, pod, keepUID);
}

/** Claims, then writes, interface i's Endpoint; returns its IP, or why it cannot yet. */
async function ensureInterface(deps: NetworkDeps, claims: Claims, pod: Pod, subnetName: string, i: number) {
  const { client, events } = deps;
  const subnet = deps.inf.subnets.store.get(subnetName);
  if (!subnet || !isReady(subnet)) {
    const why = subnet ? (readyCondition(subnet.status)?.message ?? "not ready yet") : "does not exist";
    await events.record(pod, "Warning", "SubnetNotReady", `subnet ${subnetName} for eth${i}: ${why}`);
    return { wait: undefined }; // the subnet watch requeues this pod when the subnet becomes ready
  }
  let claim: Awaited<ReturnType<Claims["claimFor"]>>;
  try {
    claim = await claims.claimFor(pod, subnet, endpointName(pod.metadata.name ?? "", i));
  } catch (err) {
    if (!(err instanceof AddressQuotaError)) throw err;
    await events.record(pod, "Warning", "AddressQuotaExceeded", `eth${i}: ${err.message}`);
    return { wait: { requeueAfterMs: 10_000 } };
  }
  if (!claim) {
    await events.record(pod, "Warning", "SubnetFull", `subnet ${subnetName} has no free address for eth${i}`);
    return { wait: { requeueAfterMs: 5_000 } };
  }
  const desired = desiredEndpoint(pod, subnet, claim.spec.ip, i);
  const ns = desired.metadata.namespace ?? "";
  const name = desired.metadata.name ?? "";
  const current = deps.inf.endpoints.store.get(`${ns}/${name}`);
  const action = endpointAction(current, desired);
  if (action === "replace")
    await client.delete(Endpoints, name, ns, { preconditionUid: current?.metadata.uid });
  if (action === "evict")
    await client.delete(Endpoints, name, ns, { preconditionUid: current?.metadata.uid }).catch(ignoreGone);
  if (endpointDiffers(current, desired)) await apply(client, Endpoints, desired);
  return { ip: claim.spec.ip };
}

function refusedSubnets(deps: NetworkDeps, wanted: string[], tenant: string, ns: string) {
  const { subnets, vpcs } = deps.inf;
  const vpcOf = (n: string) => vpcs.store.get(n);
  return subnetRefusal(
    wanted,
    tenant,
    ns,
    (n) => subnets.store.get(n),
    vpcOf,
    () => allowedSubnets(tenant, ns, subnets.store.list(), vpcOf),
  );
}

export function endpointController(deps: NetworkDeps, claims: Claims): Controller {
  const { subnets, pods } = deps.inf;
  const { client } = deps;
  return new Controller({
    name: "network-endpoint",
    for: Resources.Pod,
    concurrency: 8,
    logger: deps.log,
    watches: [
      // A subnet that becomes ready (or changes spec) wakes the pods that default to it or name it.
      watch({
        resource: Subnets,
        informer: SUBNET_INFORMER,
        map: podsOfSubnet(pods.store),
        predicate: subnetReadinessChanged,
      }),
      // Endpoints deleted by someone else are put back by their pod's reconcile.
      watch({
        resource: Endpoints,
        informer: ENDPOINT_INFORMER,
        map: endpointPod,
        predicate: deletedOnly,
      }),
    ],
    reconcile: async (req) => {
      const pod = pods.store.get(req.key);
      const ns = req.namespace ?? "";
      if (!podHoldsAddresses(pod)) {
        // Gone or finished: its addresses return to the pool now, not when GC gets to it.
        await releasePod(deps, claims, ns, req.name, undefined, new Set());
        return;
      }
      const uid = pod.metadata.uid ?? "";
      const wanted = wantedSubnets(pod, subnets.store.byIndex(SUBNET_NAMESPACE_INDEX, ns));
      const tenant = deps.inf.namespaces.store.get(ns)?.metadata.labels?.[TENANT_LABEL];
      // Admission refuses these; a pod that slipped through (the namespace's list lagging) is
      // not wired, and says why.
      const refusal = tenant ? refusedSubnets(deps, wanted, tenant, ns) : undefined;
      if (refusal) {
        await deps.events.record(pod, "Warning", "SubnetNotAllowed", refusal);
        await releasePod(deps, claims, ns, req.name, undefined, new Set());
        return;
      }
      const view = withNamespaceTenant(pod, tenant);
      const keep = new Set(wanted.map((_, i) => endpointName(req.name, i)));
      const ips: string[] = [];
      for (const [i, subnetName] of wanted.entries()) {
        const r = await ensureInterface(deps, claims, view, subnetName, i);
        if ("wait" in r) return r.wait;
        ips.push(r.ip);
      }
      await releasePod(deps, claims, ns, req.name, uid, keep);
      if (wanted.length === 0) return;
      const annotations = ipAnnotations(pod, ips);
      if (Object.keys(annotations).length) {
        await client
          .patch(Resources.Pod, req.name, ns, "merge", { metadata: { uid, annotations } })
          .catch(ignoreGone);
      }
    },
  });
}
