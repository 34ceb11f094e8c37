// The ai-namespace-queues reconciler (thin): writes on each tenant namespace the GPUQueues its
// jobs may use (queue-access.ts decides), for the admission policy to read. Its own field
// manager, so the tenancy controller's apply of the namespace never removes it.

import type { SharedInformerFactory } from "../../pkg/cache/factory.ts";
import { Controller } from "../../pkg/controller/controller.ts";
import { mapAll } from "../../pkg/controller/mappers.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { isNotFound } from "../../pkg/kube/errors.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Logger } from "../../pkg/log.ts";
import { TENANT_LABEL } from "../shared/tenant.ts";
import { GPUQueues } from "./api.ts";
import { ALLOWED_QUEUES_ANNOTATION, allowedQueues } from "./queue-access.ts";

const FIELD_MANAGER = "centaurus-ai-access";

export function namespaceQueuesController(
  client: KubeClient,
  factory: SharedInformerFactory,
  log: Logger,
): Controller {
  const namespaces = factory.informerFor(Resources.Namespace);
  const queues = factory.informerFor(GPUQueues);
  return new Controller({
    name: "ai-namespace-queues",
    for: Resources.Namespace,
    watches: [{ resource: GPUQueues, map: mapAll(namespaces) }],
    concurrency: 2,
    logger: log,
    reconcile: async (req) => {
      const ns = namespaces.store.get(req.key);
      const tenant = ns?.metadata.labels?.[TENANT_LABEL];
      if (!ns || !tenant || ns.metadata.deletionTimestamp) return;
      const allowed = allowedQueues(tenant, queues.store.list()).join(", ");
      if (ns.metadata.annotations?.[ALLOWED_QUEUES_ANNOTATION] === allowed) return;
      // A merge patch, not an apply: it never creates a namespace that was deleted meanwhile.
      const body = { metadata: { annotations: { [ALLOWED_QUEUES_ANNOTATION]: allowed } } };
      await client
        .patch(Resources.Namespace, req.name, undefined, "merge", body, { fieldManager: FIELD_MANAGER })
        .catch((err) => {
          if (!isNotFound(err)) throw err;
        });
    },
  });
}
