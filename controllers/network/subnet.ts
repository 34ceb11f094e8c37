// network-subnet: containment and overlap checks, used and available address counts
// (decided in status.ts; the pool is the claims' cache in claims.ts).

import { Controller } from "../../pkg/controller/controller.ts";
import { deletedOnly } from "../../pkg/controller/predicates.ts";
import { watch } from "../../pkg/controller/watch.ts";
import { IPAddresses, Subnets, VPCs } from "./api.ts";
import type { SubnetPools } from "./claims.ts";
import { type NetworkDeps, writeStatus } from "./deps.ts";
import { CLAIM_INFORMER, SUBNET_INFORMER, SUBNET_VPC_INDEX } from "./informers.ts";
import { subnetStatus } from "./status.ts";
import { claimSubnet, siblingSubnets, subnetsOfVPC } from "./triggers.ts";

export function subnetController(deps: NetworkDeps, pools: SubnetPools): Controller {
  const { vpcs, subnets } = deps.inf;
  return new Controller({
    name: "network-subnet",
    for: Subnets,
    concurrency: 2,
    logger: deps.log,
    watches: [
      // Subnets follow their VPC's readiness and VNI.
      watch({ resource: VPCs, map: subnetsOfVPC(subnets.store) }),
      // A deleted subnet may have been an overlap winner.
      watch({
        resource: Subnets,
        informer: SUBNET_INFORMER,
        map: siblingSubnets(subnets.store),
        predicate: deletedOnly,
      }),
      // Used/available counts follow the claims (coalesced by the queue); the pools follow too.
      watch({
        resource: IPAddresses,
        informer: CLAIM_INFORMER,
        map: (c) => {
          pools.observe(c);
          return claimSubnet(c);
        },
        predicate: { update: () => false },
      }),
    ],
    reconcile: async (req) => {
      const subnet = subnets.store.get(req.key);
      if (!subnet) {
        pools.forget(req.name);
        return;
      }
      const vpc = vpcs.store.get(subnet.spec.vpc);
      const siblings = subnets.store.byIndex(SUBNET_VPC_INDEX, subnet.spec.vpc);
      await writeStatus(
        deps,
        Subnets,
        subnet,
        subnetStatus(subnet, vpc, siblings, () => pools.poolFor(subnet)),
      );
    },
  });
}
