// Runs the worked examples of docs/tenancy.md and docs/virtual-machines.md: every YAML block
// is applied (server-side apply, as kubectl does) as the user its "# as:" line names, and
// what its "# wait:" / "# expect-error:" / "# delete:" lines promise is checked; the tables
// its console blocks show (`$ kubectl get ...`) are what kubectl prints at that point (every
// row the page shows, cell by cell, but for the columns that vary from run to run).

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { parseAllDocuments } from "yaml";
import { GPUJobs, GPUQueues } from "../../controllers/ai/api.ts";
import { aiModule } from "../../controllers/ai/index.ts";
import { VirtualMachineResource } from "../../controllers/compute/api.ts";
import { computeModule } from "../../controllers/compute/index.ts";
import { Endpoints } from "../../controllers/network/api.ts";
import { networkModule } from "../../controllers/network/index.ts";
import { TenantResource } from "../../controllers/tenancy/api.ts";
import { tenancyModule } from "../../controllers/tenancy/index.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { testCluster } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import { errorOf, installModules, startManager, waitGone } from "../fixtures/tenancy.ts";

const Deployment: ResourceType = {
  group: "apps",
  version: "v1",
  plural: "deployments",
  kind: "Deployment",
  namespaced: true,
};
const KINDS: Record<string, ResourceType> = {
  Tenant: TenantResource,
  VirtualMachine: VirtualMachineResource,
  Deployment,
  Pod: Resources.Pod,
  Namespace: Resources.Namespace,
  RoleBinding: Resources.RoleBinding,
  VPCEndpoint: Endpoints,
  GPUJob: GPUJobs,
  GPUQueue: GPUQueues,
};
const MODULES = [tenancyModule, computeModule, networkModule, aiModule];

interface Block {
  directives: Record<string, string>;
  objects: KubeObject[];
  /** A console block's `$ kubectl get` tables: the command and the lines the page shows. */
  tables: Array<{ command: string; lines: string[] }>;
}

/** The `$ kubectl get` commands of a console block that print a table (no -o), with their output. */
function consoleTables(text: string): Block["tables"] {
  return text
    .split(/^\$ /m)
    .slice(1)
    .map((chunk) => chunk.trimEnd().split("\n"))
    .map(([command = "", ...lines]) => ({ command, lines }))
    .filter((t) => /^kubectl get /.test(t.command) && !/ -o /.test(t.command));
}

/** The YAML and console blocks of a markdown page, in order, with their "# key: value" directives (pure). */
function yamlBlocks(markdown: string): Block[] {
  const out: Block[] = [];
  for (const m of markdown.matchAll(/```(yaml|console)\n([\s\S]*?)```/g)) {
    const text = m[2] ?? "";
    if (m[1] === "console") {
      out.push({ directives: {}, objects: [], tables: consoleTables(text) });
      continue;
    }
    const directives: Record<string, string> = {};
    for (const line of text.split("\n")) {
      const d = /^# ([a-z-]+): (.*)$/.exec(line);
      if (d?.[1] && d[2] !== undefined) directives[d[1]] = d[2];
    }
    const objects = parseAllDocuments(text)
      .map((doc) => doc.toJS() as KubeObject | null)
      .filter((o): o is KubeObject => o !== null && typeof o === "object");
    out.push({ directives, objects, tables: [] });
  }
  return out;
}

function target(ref: string): { rt: ResourceType; namespace?: string; name: string } {
  const [kind = "", ...rest] = ref.split("/");
  const rt = KINDS[kind];
  if (!rt) throw new Error(`unknown kind in doc directive: ${ref}`);
  return rt.namespaced ? { rt, namespace: rest[0], name: rest[1] ?? "" } : { rt, name: rest[0] ?? "" };
}

type Status = {
  status?: {
    phase?: string;
    restartCount?: number;
    conditions?: Array<{ type: string; status: string; reason?: string }>;
  };
};

function satisfied(obj: KubeObject & Status, what: string): boolean {
  const [state, ...extra] = what.split(" ");
  const conds = obj.status?.conditions ?? [];
  const ok =
    state === "exists" ||
    obj.status?.phase === state ||
    conds.some((c) => c.type === state && c.status === "True") ||
    conds.some((c) => c.status === "False" && c.reason === state);
  return (
    ok &&
    extra.every((e) => {
      const [k, v] = e.split("=");
      return String((obj.status as Record<string, unknown> | undefined)?.[k ?? ""]) === v;
    })
  );
}

// Columns whose values differ from run to run (which kwok node, allocated VNIs, age).
const VARYING = new Set(["AGE", "NODE", "VNI"]);

/** Cells of a kubectl table line: columns are at least two spaces apart, a cell never is. */
function cells(line: string): string[] {
  return line.trim().split(/\s{2,}/);
}

/**
 * Whether kubectl's table shows the page's: the same header, and every row the page shows
 * (found by its first cell; other objects may exist too) cell by cell, but for the VARYING
 * columns (pure).
 */
function sameTable(shown: string[], printed: string[]): boolean {
  const header = cells(shown[0] ?? "");
  if (cells(printed[0] ?? "").join("|") !== header.join("|")) return false;
  const rows = printed.slice(1).map(cells);
  return shown.slice(1).every((line) => {
    const want = cells(line);
    const got = rows.find((r) => r[0] === want[0]);
    return got !== undefined && want.every((c, i) => VARYING.has(header[i] ?? "") || got[i] === c);
  });
}

/** Runs a page's `kubectl get` as admin until it prints the page's table (or times out). */
async function checkTable(cluster: LocalCluster, i: number, t: Block["tables"][number]): Promise<void> {
  let printed = "";
  await waitFor(
    `block ${i}: \`${t.command}\` to print the page's table`,
    () => {
      const args = t.command.split(" ").slice(1);
      const run = spawnSync(
        join(cluster.state.binDir, "kubectl"),
        ["--kubeconfig", cluster.kubeconfigPath, ...args],
        {
          encoding: "utf8",
        },
      );
      printed = run.stdout + run.stderr;
      if (sameTable(t.lines, printed.trimEnd().split("\n"))) return true;
      throw new Error(`kubectl printed:\n${printed}`);
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
}

for (const page of ["docs/tenancy.md", "docs/virtual-machines.md"]) {
  describe(`worked example: ${page}`, function () {
    this.timeout(180_000);
    let cluster: LocalCluster;
    let admin: KubeClient;
    let manager: Manager;
    const clients = new Map<string, KubeClient>();

    before(async () => {
      cluster = testCluster();
      admin = await cluster.clientFor();
      await installModules(admin, MODULES);
      manager = await startManager(admin, MODULES);
    });
    after(async () => {
      await manager.stop();
      for (const c of clients.values()) c.close();
      admin.close();
    });

    it("every block does what the page says", async () => {
      const blocks = yamlBlocks(readFileSync(page, "utf8"));
      expect(blocks.length).to.be.greaterThan(3);
      for (const [i, b] of blocks.entries()) {
        for (const t of b.tables) await checkTable(cluster, i, t);
        const who = b.directives.as ?? "admin";
        let client = clients.get(who);
        if (!client) {
          client = await cluster.clientFor(who);
          clients.set(who, client);
        }
        const user = client;
        for (const obj of b.objects) {
          const rt = KINDS[obj.kind ?? ""];
          if (!rt) throw new Error(`block ${i}: unknown kind ${obj.kind}`);
          const applyIt = () =>
            user.patch(rt, obj.metadata.name ?? "", obj.metadata.namespace, "apply", obj, {
              fieldManager: `kubectl-${who}`,
            });
          const expectError = b.directives["expect-error"];
          if (expectError) {
            // Admission policies installed moments ago take a little while to be enforced:
            // wait (with a server-side dry run, which changes nothing) until the refusal shows.
            await waitFor(`block ${i}: the refusal to be enforced`, async () =>
              new RegExp(expectError).test(
                await errorOf(
                  user.patch(rt, obj.metadata.name ?? "", obj.metadata.namespace, "apply", obj, {
                    fieldManager: `kubectl-${who}`,
                    dryRun: true,
                  }),
                ),
              ),
            );
            expect(await errorOf(applyIt()), `block ${i}`).to.match(new RegExp(expectError));
          } else {
            // A just-granted RoleBinding reaches the authorizer within moments: retry briefly.
            await waitFor(`block ${i} applied as ${who}`, applyIt, { timeoutMs: 20_000 });
          }
        }
        const wait = b.directives.wait;
        if (wait) {
          const [ref = "", ...state] = wait.split(" ");
          const { rt, namespace, name } = target(ref);
          await waitFor(
            `block ${i}: ${wait}`,
            async () => {
              const o = await admin.get<KubeObject & Status>(rt, name, namespace);
              if (satisfied(o, state.join(" "))) return true;
              throw new Error(JSON.stringify(o.status ?? {}));
            },
            { timeoutMs: 60_000 },
          );
        }
        const del = b.directives.delete;
        if (del) {
          const { rt, namespace, name } = target(del);
          await admin.delete(rt, name, namespace);
          await waitGone(del, () => admin.get(rt, name, namespace), 90_000);
        }
      }
    });
  });
}
