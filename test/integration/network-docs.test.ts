// Runs the worked example of docs/networking.md: applies its YAML blocks in order (with
// unique names), then checks the documented NodeProgram excerpt and `net check` answers.

import { readFileSync } from "node:fs";
import { expect } from "chai";
import { parse, parseAllDocuments } from "yaml";
import { formatAnswer, netCheck } from "../../cli/network.ts";
import {
  type Endpoint,
  Endpoints,
  type NodeProgram,
  NodePrograms,
  Subnets,
  type VPC,
  VPCs,
} from "../../controllers/network/api.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import { installNetwork, startNetworkManager } from "../fixtures/network.ts";

const DOC = new URL("../../docs/networking.md", import.meta.url);

function blocks(markdown: string, lang: string): string[] {
  const out: string[] = [];
  const re = /```([a-z]*)\n([\s\S]*?)```/g;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) if (m[1] === lang) out.push(m[2] ?? "");
  return out;
}

const kinds: Record<string, ResourceType> = {
  Namespace: Resources.Namespace,
  Pod: Resources.Pod,
  NetworkPolicy: Resources.NetworkPolicy,
  VPC: VPCs,
  Subnet: Subnets,
};

describe("network: docs/networking.md worked example", function () {
  this.timeout(120_000);
  let client: KubeClient;
  let manager: Manager;
  const u = uniqueName("demo");
  const rename = (text: string) => text.replaceAll("demo", u);

  before(async () => {
    client = await testCluster().clientFor();
    await installNetwork(client);
    ({ manager } = await startNetworkManager(client));
  });
  after(async () => {
    await client.delete(Resources.Namespace, u).catch(() => undefined);
    await client.delete(Subnets, `${u}-net`).catch(() => undefined);
    await waitFor(
      "VPC without subnets",
      async () => ((await client.get<VPC>(VPCs, `${u}-vpc`)).status?.subnets ?? []).length === 0,
    ).catch(() => undefined);
    await client.delete(VPCs, `${u}-vpc`).catch(() => undefined);
    await manager?.stop();
    client?.close();
  });

  it("applies the example and shows what the page says", async () => {
    const markdown = readFileSync(DOC, "utf8");
    const yamlBlocks = blocks(markdown, "yaml");
    expect(yamlBlocks.length).to.be.greaterThanOrEqual(4);
    for (const block of yamlBlocks) {
      for (const doc of parseAllDocuments(rename(block))) {
        const obj = doc.toJS() as KubeObject;
        const rt = kinds[obj.kind ?? ""];
        if (!rt) throw new Error(`the example applies an unexpected kind ${obj.kind}`);
        await client.create(rt, obj);
        if (obj.kind === "Subnet") {
          await waitFor("subnet ready", async () => {
            const s = await client.get<
              KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }
            >(Subnets, obj.metadata.name ?? "");
            return s.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
          });
        }
        if (obj.kind === "Pod") {
          await waitFor(`endpoint of ${obj.metadata.name}`, () =>
            client.get<Endpoint>(Endpoints, obj.metadata.name ?? "", u),
          );
        }
      }
    }
    // The Endpoint table.
    const eps = (await client.list<Endpoint>(Endpoints, { namespace: u })).items;
    const table = markdown.match(/\$ kubectl get vep -n demo\n([\s\S]*?)```/)?.[1] ?? "";
    for (const line of table.trim().split("\n").slice(1)) {
      const [name, ip, subnet, , node] = rename(line).split(/\s+/);
      const ep = eps.find((e) => e.metadata.name === name);
      expect(ep?.spec, line).to.include({ ip, subnet, node });
    }
    // The NodeProgram excerpt.
    const excerpt = parse(
      rename(blocks(markdown, "text").find((b) => b.startsWith("localEndpoints:")) ?? ""),
    ) as NodeProgram["spec"];
    const want = excerpt.localEndpoints[0]!;
    const prog = await waitFor("db isolated in its node's program", async () => {
      const p = await client.get<NodeProgram>(NodePrograms, "kwok-plain-1");
      const db = p.spec.localEndpoints.find((e) => e.namespace === u && e.pod === "db");
      return db?.ingress.isolated ? p : undefined;
    });
    const got = prog.spec.localEndpoints.find((e) => e.namespace === u && e.pod === "db")!;
    const { vni: _vni, ...gotComparable } = got;
    expect(gotComparable).to.deep.equal(want);
    const rule = got.ingress.rules[0]!;
    expect(rule.peerSets.map((id) => prog.spec.peerSets[id])).to.deep.equal(excerpt.peerSets);
    // The net check answers, line for line (the VNI differs from the page's).
    const consoleText = markdown.match(/\$ centaurus net check[\s\S]*?```/)?.[0] ?? "";
    const answers = consoleText.split("$ ").filter((s) => s.startsWith("centaurus net check"));
    expect(answers).to.have.length(2);
    for (const a of answers) {
      const [cmd = "", ...expected] = rename(a).replace(/```$/, "").trimEnd().split("\n");
      const [, , , from = "", to = "", , port = ""] = cmd.split(" ");
      const answer = await netCheck(client, from, to, { port: Number(port) });
      const text = formatAnswer(from, to, answer, Number(port)).replace(/VNI \d+/, "VNI n");
      expect(text.trimEnd()).to.equal(
        expected
          .join("\n")
          .trimEnd()
          .replace(/VNI \d+/, "VNI n"),
      );
    }
  });
});
