// The network controllers, wired: every decision is rebuilt from the API server's objects
// (through the shared informers in informers.ts); the API server is the arbiter of address
// ownership (IPAddress claims, claims.ts).
//
//   network-vpc       vpc.ts           VNI allocation, tenant overlap check, status.subnets
//   network-subnet    subnet.ts        containment / overlap checks, used and available counts
//   network-endpoint  endpoint.ts      pods (and VM launcher pods) → claim + Endpoint + IP annotation
//   network-ipclaim   ip-claim.ts      returns addresses whose pod is gone
//   network-program   node-program.ts  one NodeProgram per node, recompiled only where affected

import type { Counter } from "prom-client";
import type { Controller } from "../../pkg/controller/controller.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { Logger } from "../../pkg/log.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { EventRecorder } from "../../pkg/status/events.ts";
import { StatusWriter } from "../../pkg/status/status-writer.ts";
import { Claims, SubnetPools } from "./claims.ts";
import type { NetworkDeps } from "./deps.ts";
import { endpointController } from "./endpoint.ts";
import { networkInformers } from "./informers.ts";
import { claimController } from "./ip-claim.ts";
import { programController } from "./node-program.ts";
import { subnetController } from "./subnet.ts";
import { vpcController } from "./vpc.ts";

export interface NetworkControllers {
  controllers: Controller[];
  compiles: Counter<"node">;
}

export function setupNetwork(
  manager: Manager,
  client: KubeClient,
  opts: { logger?: Logger } = {},
): NetworkControllers {
  const log = opts.logger ?? manager.log;
  const deps: NetworkDeps = {
    client,
    log,
    events: new EventRecorder(client, "centaurus.io/network", "network", log),
    status: new StatusWriter(client),
    // Created first, so that every controller gets the same options.
    inf: networkInformers(manager.factory),
  };
  const pools = new SubnetPools(deps.inf.claims);
  const claims = new Claims(client, deps.inf.claims, pools);
  const program = programController(deps, manager);
  const controllers = [
    vpcController(deps),
    subnetController(deps, pools),
    endpointController(deps, claims),
    claimController(deps, claims),
    program.controller,
  ];
  for (const c of controllers) manager.add(c);
  return { controllers, compiles: program.compiles };
}
