// What the shipping e2e tests (ship.test.ts: the manager as a process; real-operator.test.ts:
// the operator as pods on a real node) observe the same way.

import { spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { isNotFound } from "../../pkg/kube/errors.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import { freePort } from "../../pkg/localcluster/cluster.ts";
import type { Condition } from "../../pkg/status/conditions.ts";
import { waitFor } from "../../pkg/testing/wait.ts";

const SAMPLES_DIR = "manifests/samples";

export function samplesText(): string {
  return readdirSync(SAMPLES_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => readFileSync(join(SAMPLES_DIR, f), "utf8"))
    .join("\n---\n");
}

export const isCentaurus = (rt: ResourceType) => rt.group.endsWith(".centaurus.io");

/** Every Centaurus object from the samples reports Ready=True for its current generation. */
export async function samplesReady(
  admin: KubeClient,
  applied: Array<{ resource: ResourceType; object: KubeObject }>,
): Promise<string[] | undefined> {
  const notReady: string[] = [];
  for (const { resource, object } of applied.filter((a) => isCentaurus(a.resource))) {
    const cur = await admin.get<KubeObject & { status?: { conditions?: Condition[] } }>(
      resource,
      object.metadata.name ?? "",
      object.metadata.namespace,
    );
    const ready = cur.status?.conditions?.find((c) => c.type === "Ready");
    if (ready?.status !== "True")
      notReady.push(
        `${resource.kind} ${object.metadata.name}: ${ready?.reason ?? "no Ready condition"} ${ready?.message ?? ""}`,
      );
  }
  return notReady.length === 0 ? [] : undefined;
}

export async function forbiddenRequests(metricsPort: number, host = "127.0.0.1"): Promise<number> {
  const text = await (await fetch(`http://${host}:${metricsPort}/metrics`)).text();
  return [...text.matchAll(/^rest_client_requests_total\{[^}]*code="403"[^}]*\} (\d+)/gm)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}

/** What the chart installs, by the instance label; empty once uninstalled. */
export async function operatorObjects(admin: KubeClient): Promise<string[]> {
  const selector = "app.kubernetes.io/instance=centaurus";
  const kinds: ResourceType[] = [
    Resources.ServiceAccount,
    Resources.Service,
    Resources.Role,
    Resources.RoleBinding,
    Resources.ClusterRole,
    Resources.ClusterRoleBinding,
    { group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true },
    {
      group: "admissionregistration.k8s.io",
      version: "v1",
      plural: "validatingadmissionpolicies",
      kind: "ValidatingAdmissionPolicy",
      namespaced: false,
    },
    {
      group: "admissionregistration.k8s.io",
      version: "v1",
      plural: "validatingadmissionpolicybindings",
      kind: "ValidatingAdmissionPolicyBinding",
      namespaced: false,
    },
    {
      group: "node.k8s.io",
      version: "v1",
      plural: "runtimeclasses",
      kind: "RuntimeClass",
      namespaced: false,
    },
  ];
  const left: string[] = [];
  for (const rt of kinds) {
    const list = await admin.list(rt, { labelSelector: selector });
    left.push(...list.items.map((o) => `${rt.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`));
  }
  return left;
}

/** Deletes the samples while the operator still runs (so their cleanup finishes) and waits until they are gone. */
export async function deleteSamples(
  admin: KubeClient,
  applied: Array<{ resource: ResourceType; object: KubeObject }>,
): Promise<void> {
  // The samples go while the operator still runs, so their cleanup can finish.
  // In reverse order; a VPC is refused while its subnets still exist (admission policy),
  // so each delete is retried until what it depends on is gone.
  for (const { resource, object } of [...applied].reverse()) {
    await waitFor(`${resource.kind} ${object.metadata.name} deleted`, async () => {
      await admin.delete(resource, object.metadata.name ?? "", object.metadata.namespace);
      return true;
    });
  }
  await waitFor(
    "the samples to be gone",
    async () => {
      for (const { resource, object } of applied.filter((a) => isCentaurus(a.resource))) {
        try {
          await admin.get(resource, object.metadata.name ?? "", object.metadata.namespace);
          return undefined;
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      return true;
    },
    { timeoutMs: 120_000 },
  );
}

export interface Prometheus {
  port: number;
  query: (q: string) => Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  stop: () => void;
}

/** A real Prometheus (Debian's package) scraping `targets` every second, listening on 127.0.0.1. */
export async function startPrometheus(dir: string, targets: string[]): Promise<Prometheus> {
  const port = await freePort();
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    stringify({
      global: { scrape_interval: "1s", evaluation_interval: "1s" },
      scrape_configs: [{ job_name: "centaurus", static_configs: [{ targets }] }],
    }),
  );
  const child = spawn(
    "prometheus",
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: "ignore" },
  );
  const query = async (q: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
    return (
      (await res.json()) as {
        data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      }
    ).data.result;
  };
  return { port, query, stop: () => child.kill("SIGKILL") };
}
