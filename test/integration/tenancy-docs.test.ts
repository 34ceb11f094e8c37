// Runs the worked examples of docs/tenancy.md and docs/virtual-machines.md: every YAML block
// is applied (server-side apply, as kubectl does) as the user its "# as:" line names, and
// what its "# wait:" / "# expect-error:" / "# delete:" lines promise is checked.

import { readFileSync } from "node:fs";
import { expect } from "chai";
import { parseAllDocuments } from "yaml";
import { VirtualMachineResource } from "../../controllers/compute/api.ts";
import { computeModule } from "../../controllers/compute/index.ts";
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
};

interface Block {
  directives: Record<string, string>;
  objects: KubeObject[];
}

/** The YAML blocks of a markdown page with their "# key: value" directives (pure). */
function yamlBlocks(markdown: string): Block[] {
  const out: Block[] = [];
  for (const m of markdown.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    const text = m[1] ?? "";
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
      await installModules(admin, [tenancyModule, computeModule]);
      if (page.includes("virtual"))
        await waitQuotaCounts(admin, "count/virtualmachines.compute.centaurus.io");
      manager = await startManager(admin, [tenancyModule, computeModule]);
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
