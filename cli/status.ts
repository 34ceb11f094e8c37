// `centaurus status`: one summary across pillars — every Centaurus kind the cluster serves,
// how many objects of it exist and how many are Ready, and what the others are waiting for.
// Only kinds whose schema declares status.conditions are counted as ready or not: the others
// (VPCEndpoint, VPCAddress, NodeProgram) have no Ready to report, and a summary that calls
// every healthy one "not ready" teaches users to ignore it.

import { parseArgs } from "node:util";
import { connect } from "../pkg/kube/config.ts";
import type { KubeObject } from "../pkg/kube/object.ts";
import { Resources } from "../pkg/kube/resource.ts";
import type { Condition } from "../pkg/status/conditions.ts";

export const STATUS_HELP = `centaurus status — what Centaurus manages in the current cluster

Usage: centaurus status [--kubeconfig FILE] [--verbose]

Lists every Centaurus kind the cluster serves (tenants, VMs, VPCs, edge clusters, GPU jobs, ...)
with object counts and how many are Ready ("-" for kinds that have no Ready condition); with
--verbose, each object that is not Ready and the reason its Ready condition gives.
`;

interface CRD extends KubeObject {
  spec: {
    group: string;
    names: { kind: string; plural: string };
    scope: string;
    versions: Array<{
      name: string;
      served: boolean;
      schema?: { openAPIV3Schema?: { properties?: { status?: { properties?: Record<string, unknown> } } } };
    }>;
  };
}

/** Whether a kind reports readiness: its served version's status has conditions. */
function hasConditions(version: CRD["spec"]["versions"][number] | undefined): boolean {
  return version?.schema?.openAPIV3Schema?.properties?.status?.properties?.conditions !== undefined;
}

type WithConditions = KubeObject & { status?: { conditions?: Condition[]; phase?: string } };

export async function runStatus(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: "string" },
      verbose: { type: "boolean", short: "v" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(STATUS_HELP);
    return 0;
  }
  const client = await connect(values.kubeconfig);
  try {
    const crds = await client.list<CRD>(Resources.CustomResourceDefinition, {
      labelSelector: "app.kubernetes.io/part-of=centaurus",
    });
    if (crds.items.length === 0) {
      process.stdout.write(
        "Centaurus is not installed here: no Centaurus CRDs (npm start, or helm install centaurus manifests/charts/centaurus)\n",
      );
      return 1;
    }
    const rows: string[][] = [["KIND", "GROUP", "OBJECTS", "READY", "NOT READY"]];
    const details: string[] = [];
    for (const crd of [...crds.items].sort(
      (a, b) =>
        a.spec.group.localeCompare(b.spec.group) || a.spec.names.kind.localeCompare(b.spec.names.kind),
    )) {
      const served = crd.spec.versions.find((v) => v.served);
      const rt = {
        group: crd.spec.group,
        version: served?.name ?? "v1alpha1",
        plural: crd.spec.names.plural,
        kind: crd.spec.names.kind,
        namespaced: crd.spec.scope === "Namespaced",
      };
      const list = await client.list<WithConditions>(rt);
      if (!hasConditions(served)) {
        rows.push([rt.kind, rt.group, String(list.items.length), "-", "-"]);
        continue;
      }
      const notReady = list.items.filter(
        (o) => o.status?.conditions?.find((c) => c.type === "Ready")?.status !== "True",
      );
      rows.push([
        rt.kind,
        rt.group,
        String(list.items.length),
        String(list.items.length - notReady.length),
        String(notReady.length),
      ]);
      for (const o of notReady) {
        const ready = o.status?.conditions?.find((c) => c.type === "Ready");
        const name = o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
        details.push(
          `  ${rt.kind} ${name}: ${ready ? `${ready.reason}: ${ready.message}` : `no Ready condition yet${o.status?.phase ? ` (phase ${o.status.phase})` : ""}`}`,
        );
      }
    }
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
    for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")}\n`);
    if (values.verbose) {
      process.stdout.write(
        details.length
          ? `\nnot ready:\n${details.join("\n")}\n`
          : "\nevery object that has a Ready condition is Ready\n",
      );
    }
    return 0;
  } finally {
    client.close();
  }
}
