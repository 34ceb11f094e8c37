// network-ipclaim: returns addresses whose pod is gone (also pods deleted while we were down).

import { Controller } from "../../pkg/controller/controller.ts";
import { deletedOnly } from "../../pkg/controller/predicates.ts";
import { watch } from "../../pkg/controller/watch.ts";
import type { Pod } from "../../pkg/kube/core.ts";
import { isNotFound } from "../../pkg/kube/errors.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import { IPAddresses } from "./api.ts";
import type { Claims } from "./claims.ts";
import type { NetworkDeps } from "./deps.ts";
import { POD_INFORMER } from "./informers.ts";
import { CLAIM_GRACE_MS, claimsOfPod } from "./triggers.ts";

export function claimController(deps: NetworkDeps, claimBook: Claims): Controller {
  const { claims, pods } = deps.inf;
  return new Controller({
    name: "network-ipclaim",
    for: IPAddresses,
    concurrency: 2,
    logger: deps.log,
    watches: [
      // A claim whose pod disappears is checked by the sweeper, once the grace has passed.
      watch({
        resource: Resources.Pod,
        informer: POD_INFORMER,
        map: claimsOfPod(claims.store),
        predicate: deletedOnly,
        delayMs: CLAIM_GRACE_MS,
      }),
    ],
    reconcile: async (req) => {
      const claim = claims.store.get(req.key);
      if (!claim) return;
      const { namespace, pod, podUID } = claim.spec.endpoint;
      const cached = pods.store.get(`${namespace}/${pod}`);
      if (cached && cached.metadata.uid === podUID && !cached.metadata.deletionTimestamp) return;
      const age = Date.now() - Date.parse(claim.metadata.creationTimestamp ?? new Date().toISOString());
      if (age < CLAIM_GRACE_MS) return { requeueAfterMs: CLAIM_GRACE_MS - age + 100 };
      // The cache says the pod is gone: confirm with the API server before freeing the address.
      try {
        const live = await deps.client.get<Pod>(Resources.Pod, pod, namespace);
        if (live.metadata.uid === podUID && !live.metadata.deletionTimestamp) return;
        if (live.metadata.uid === podUID) return { requeueAfterMs: 2_000 };
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      await claimBook.delete(claim);
    },
  });
}
