// `centaurus status`: one summary across pillars — every Centaurus kind the cluster serves,
// how many objects of it exist and how many are Ready, and what the others are waiting for.
// Only kinds whose schema declares status.conditions are counted as ready or not: the others
// (VPCEndpoint, VPCAddress) have no Ready to report, and a summary that calls every healthy
// one "not ready" teaches users to ignore it. Likewise an object whose Ready condition nobody
// has written yet (a NodeProgram of a node without a node agent, such as a kwok node) is
// counted apart, as not reported, from one that says it is not Ready.

import { parseArgs } from "node:util";
import { connect } from "../pkg/kube/config.ts";
import type { KubeObject } from "../pkg/kube/object.ts";
import { Resources } from "../pkg/kube/resource.ts";
import type { Condition } from "../pkg/status/conditions.ts";

export const STATUS_HELP = `centaurus status — what Centaurus manages in the current cluster

Usage: centaurus status [--kubeconfig FILE] [--verbose]

Lists every Centaurus kind the cluster serves (tenants, VMs, VPCs, edge clusters, GPU jobs, ...)
with object counts, how many are Ready, how many say they are not, and how many have no Ready
condition yet ("-" for kinds that have none); with --verbose, each object that is not Ready and
the reason its Ready condition gives, and each kind's objects nobody has reported on yet.
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
    const rows: string[][] = [["KIND", "GROUP", "OBJECTS", "READY", "NOT READY", "NOT REPORTED"]];
    const details: string[] = [];
    const unreported: string[] = [];
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
        rows.push([rt.kind, rt.group, String(list.items.length), "-", "-", "-"]);
        continue;
      }
      const readyOf = (o: WithConditions) => o.status?.conditions?.find((c) => c.type === "Ready");
      const ready = list.items.filter((o) => readyOf(o)?.status === "True");
      const notReady = list.items.filter((o) => readyOf(o) && readyOf(o)?.status !== "True");
      const silent = list.items.filter((o) => !readyOf(o));
      rows.push([
        rt.kind,
        rt.group,
        String(list.items.length),
        String(ready.length),
        String(notReady.length),
        String(silent.length),
      ]);
      const nameOf = (o: WithConditions) =>
        o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata.name ?? "");
      for (const o of notReady) {
        const r = readyOf(o);
        details.push(`  ${rt.kind} ${nameOf(o)}: ${r?.reason}: ${r?.message}`);
      }
      if (silent.length)
        unreported.push(
          `  ${rt.kind}: ${silent.map(nameOf).sort().join(", ")}${rt.kind === "NodeProgram" ? " (no node agent reports for these nodes)" : ""}`,
        );
    }
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
    for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")}\n`);
    if (values.verbose) {
      process.stdout.write(
        details.length
          ? `\nnot ready:\n${details.join("\n")}\n`
          : "\nevery object that has a Ready condition is Ready\n",
      );
      if (unreported.length) process.stdout.write(`\nno Ready condition yet:\n${unreported.join("\n")}\n`);
    }
    return 0;
  } finally {
    client.close();
  }
}
