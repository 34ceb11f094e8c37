// network-vpc: VNI allocation, the tenant overlap check and status.subnets (decided in status.ts).

import { ReadYourWrites } from "../../pkg/cache/read-your-writes.ts";
import { Controller } from "../../pkg/controller/controller.ts";
import { deletedOnly } from "../../pkg/controller/predicates.ts";
import { watch } from "../../pkg/controller/watch.ts";
import { Subnets, type VPC, VPCs } from "./api.ts";
import { type NetworkDeps, writeStatus } from "./deps.ts";
import { SUBNET_INFORMER, SUBNET_VPC_INDEX } from "./informers.ts";
import { vpcStatus } from "./status.ts";
import { allVPCs, subnetVPCChanged, subnetVPCs } from "./triggers.ts";

export function vpcController(deps: NetworkDeps): Controller {
  const { vpcs, subnets } = deps.inf;
  /** Status this process wrote that the cache may not show yet (concurrency 1 makes this exact). */
  const written = new ReadYourWrites(vpcs.store);
  const vniOf = (o: VPC) => o.status?.vni ?? written.get(o.metadata.name ?? "")?.status?.vni ?? o.spec.vni;
  return new Controller({
    name: "network-vpc",
    for: VPCs,
    concurrency: 1,
    logger: deps.log,
    watches: [
      // status.subnets lists the VPC's subnets.
      watch({ resource: Subnets, informer: SUBNET_INFORMER, map: subnetVPCs, predicate: subnetVPCChanged }),
      // Overlap losers may go ahead once the winner is deleted.
      watch({
        resource: VPCs,
        map: allVPCs(vpcs.store),
        predicate: deletedOnly,
      }),
    ],
    reconcile: async (req) => {
      const vpc = vpcs.store.get(req.key);
      if (!vpc) return;
      const others = vpcs.store.list().filter((v) => v.metadata.name !== req.name);
      const names = subnets.store.byIndex(SUBNET_VPC_INDEX, req.name).map((s) => s.metadata.name ?? "");
      const decision = vpcStatus(vpc, others, names, vniOf);
      const patched = await writeStatus(deps, VPCs, vpc, decision);
      if (patched && patched !== vpc) written.wrote(patched);
    },
  });
}
