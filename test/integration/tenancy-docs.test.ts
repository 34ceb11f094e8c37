// Runs the worked examples of docs/tenancy.md and docs/virtual-machines.md: every YAML block
// is applied (server-side apply, as kubectl does) as the user its "# as:" line names, and
// what its "# wait:" / "# expect-error:" / "# delete:" lines promise is checked. A console
// block showing `kubectl get tenants` is compared, at its place in the page, with the table
// the API server prints (the columns kubectl shows, and every cell but AGE).

import { readFileSync } from "node:fs";
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
import { errorOf, installModules, startManager, waitGone, waitQuotaCounts } from "../fixtures/tenancy.ts";

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
  /** A console block's `kubectl get tenants` output: header and rows, split into cells. */
  table?: string[][];
}

/** Cells of a kubectl table line (columns are two or more spaces apart). */
function cells(line: string): string[] {
  return line.trim().split(/\s{2,}/);
}

/** The YAML blocks of a markdown page with their "# key: value" directives, and the `kubectl get tenants` outputs, in page order (pure). */
function yamlBlocks(markdown: string): Block[] {
  const out: Block[] = [];
  for (const m of markdown.matchAll(/```(yaml|console)\n([\s\S]*?)```/g)) {
    const text = m[2] ?? "";
    if (m[1] === "console") {
      const lines = text.split("\n");
      const at = lines.indexOf("$ kubectl get tenants");
      if (at < 0) continue;
      const rest = lines.slice(at + 1);
      const end = rest.findIndex((l) => l.startsWith("$") || l.trim() === "");
      out.push({ directives: {}, objects: [], table: rest.slice(0, end < 0 ? undefined : end).map(cells) });
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
    out.push({ directives, objects });
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

interface Table {
  columnDefinitions: Array<{ name: string; priority?: number }>;
  rows: Array<{ cells: unknown[]; object?: { metadata?: { name?: string } } }>;
}

/** The page's `kubectl get tenants` output against the API server's table (AGE aside). */
async function expectTenantTable(admin: KubeClient, want: string[][], i: number): Promise<void> {
  const [header = [], ...rows] = want;
  await waitFor(`block ${i}: kubectl get tenants as shown`, async () => {
    const table = await admin.request<Table>("GET", "/apis/tenancy.centaurus.io/v1alpha1/tenants", {
      accept: "application/json;as=Table;v=v1;g=meta.k8s.io",
    });
    const shown = table.columnDefinitions.map((c, idx) => ({ ...c, idx })).filter((c) => !c.priority);
    const names = shown.map((c) => c.name.toUpperCase());
    expect(names, `block ${i}: columns`).to.deep.equal(header);
    for (const row of rows) {
      const got = table.rows.find((r) => String(r.cells[0]) === row[0]);
      if (!got) throw new Error(`no tenant ${row[0]}`);
      const cellsShown = shown.map((c) => String(got.cells[c.idx] ?? ""));
      // AGE changes by the second: every other cell must read as the page says.
      const age = names.indexOf("AGE");
      expect(cellsShown.filter((_, k) => k !== age)).to.deep.equal(row.filter((_, k) => k !== age));
    }
    return true;
  });
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
      if (page.includes("virtual"))
        await waitQuotaCounts(admin, "count/virtualmachines.compute.centaurus.io");
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
        if (b.table) {
          await expectTenantTable(admin, b.table, i);
          continue;
        }
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
