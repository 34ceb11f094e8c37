// `centaurus edge tree`: the edge tree below the current cluster, with health and missions.

import { parseArgs } from "node:util";
import {
  EDGE_NAMESPACE,
  type EdgeCluster,
  EdgeClusters,
  IDENTITY_CONFIGMAP,
  type Mission,
  Missions,
} from "../controllers/edge/api.ts";
import { parseIdentity } from "../controllers/edge/identity.ts";
import { renderTree } from "../controllers/edge/treeview.ts";
import { connect } from "../pkg/kube/config.ts";
import { isNotFound } from "../pkg/kube/errors.ts";
import { Resources } from "../pkg/kube/resource.ts";

export const EDGE_HELP = `centaurus edge — the Fornax edge-cluster tree

Usage:
  centaurus edge tree [--kubeconfig FILE]
      Print the tree below the current cluster (its EdgeClusters and their subtrees), each
      cluster with its connection, ready/total nodes, last heartbeat and mission counts
      (applied, failed, unreachable, pending), and why a refused or broken attachment is not Ready.
`;

export async function runEdge(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { kubeconfig: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help || positionals[0] !== "tree") {
    process.stdout.write(EDGE_HELP);
    return values.help ? 0 : 2;
  }
  const client = await connect(values.kubeconfig);
  try {
    const [ecs, missions] = await Promise.all([
      client.list<EdgeCluster>(EdgeClusters),
      client.list<Mission>(Missions),
    ]);
    const identity = await client
      .get(Resources.ConfigMap, IDENTITY_CONFIGMAP, EDGE_NAMESPACE)
      .catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
    const self = parseIdentity(identity);
    process.stdout.write(renderTree({ name: self.path || self.name }, ecs.items, missions.items));
    return 0;
  } finally {
    client.close();
  }
}
