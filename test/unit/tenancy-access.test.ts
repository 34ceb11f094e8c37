// The pure decisions of tenancy across the pillars: readable usage, which subnets and GPU
// queues a tenant may use, and the tenant label a pod's network objects get.

import { expect } from "chai";
import type { GPUQueue } from "../../controllers/ai/api.ts";
import { allowedQueues, queueOpenTo } from "../../controllers/ai/queue-access.ts";
import { allowedSubnets, subnetRefusal } from "../../controllers/network/access.ts";
import type { Subnet, VPC } from "../../controllers/network/api.ts";
import { tenantLabelOf, withNamespaceTenant } from "../../controllers/network/endpoint-desired.ts";
import { humanQuantity, usageSummary } from "../../controllers/tenancy/quantity.ts";
import type { Pod } from "../../pkg/kube/core.ts";

const vpc = (name: string, tenant?: string): VPC =>
  ({ metadata: { name }, spec: { cidr: "10.0.0.0/16", tenant, dividers: 1 } }) as VPC;
const subnet = (name: string, vpcName: string, extra: Partial<Subnet["spec"]> = {}): Subnet =>
  ({ metadata: { name }, spec: { vpc: vpcName, cidr: "10.0.0.0/24", bouncers: 1, ...extra } }) as Subnet;
const queue = (name: string, owner: string, extra: Partial<GPUQueue["spec"]> = {}): GPUQueue =>
  ({ metadata: { name }, spec: { owner: { kind: "Tenant", name: owner }, ...extra } }) as GPUQueue;

describe("tenancy: readable usage", () => {
  it("shows memory in binary units and cpu in cores or millicores, keys sorted", () => {
    const summary = usageSummary(
      { pods: "1", cpu: "2", memory: "4294967296" },
      { pods: "40", memory: "64Gi", cpu: "32" },
    );
    expect(summary).to.equal("cpu 2/32, memory 4Gi/64Gi, pods 1/40");
    expect(usageSummary({ cpu: "1500m", memory: "402653184" }, { cpu: "2", memory: "1Gi" })).to.equal(
      "cpu 1500m/2, memory 384Mi/1Gi",
    );
    expect(humanQuantity("memory", 1610612736000n)).to.equal("1.5Gi");
    expect(humanQuantity("requests.storage", 512000n)).to.equal("512");
    expect(usageSummary({}, { "count/configmaps": "30" })).to.equal("count/configmaps 0/30");
    // Counted but not limited: shown without a hard.
    expect(usageSummary({ pods: "2", "ip-addresses": "3" }, { pods: "9" })).to.equal(
      "pods 2/9, ip-addresses 3",
    );
  });
});

describe("network: subnets open to a tenant", () => {
  const vpcs = new Map([
    ["a", vpc("a", "acme")],
    ["g", vpc("g", "globex")],
    ["plain", vpc("plain")],
  ]);
  const subnets = [
    subnet("a-default", "a"),
    subnet("g-default", "g"),
    subnet("g-shared", "g", { tenants: ["acme"] }),
    subnet("common", "plain", { shared: true }),
    subnet("infra", "plain"),
    subnet("listed", "plain", { namespaces: ["acme-web"] }),
  ];
  const vpcOf = (n: string) => vpcs.get(n);
  it("own VPCs' subnets, those opened to the tenant, shared ones and those listing the namespace", () => {
    expect(allowedSubnets("acme", "acme-web", subnets, vpcOf)).to.deep.equal([
      "a-default",
      "common",
      "g-shared",
      "listed",
    ]);
    expect(allowedSubnets("globex", "globex-default", subnets, vpcOf)).to.deep.equal([
      "common",
      "g-default",
      "g-shared",
    ]);
  });
  it("refuses another tenant's subnet naming the allowed ones; waits for a missing one", () => {
    const byName = new Map(subnets.map((s) => [s.metadata.name ?? "", s]));
    const refusal = (wanted: string[]) =>
      subnetRefusal(
        wanted,
        "acme",
        "acme-default",
        (n) => byName.get(n),
        vpcOf,
        () => allowedSubnets("acme", "acme-default", subnets, vpcOf),
      );
    expect(refusal(["g-default"])).to.equal(
      "subnet g-default is not open to tenant acme; its pods may join: a-default, common, g-shared",
    );
    expect(refusal(["a-default", "g-shared"])).to.equal(undefined);
    expect(refusal(["not-yet"])).to.equal(undefined);
  });
  it("labels a pod's network objects with its namespace's tenant, never its own label", () => {
    const pod = {
      metadata: { name: "p", labels: { app: "x", "tenancy.centaurus.io/tenant": "globex" } },
    } as Pod;
    expect(tenantLabelOf(withNamespaceTenant(pod, "acme"))).to.deep.equal({
      "tenancy.centaurus.io/tenant": "acme",
    });
    expect(withNamespaceTenant(pod, undefined).metadata.labels).to.deep.equal({ app: "x" });
  });
});

describe("ai: GPU queues open to a tenant", () => {
  it("a tenant's own queues, those listing it and shared ones; never a Team's by default", () => {
    const queues = [
      queue("a", "acme"),
      queue("g", "globex"),
      queue("g-lent", "globex", { tenants: ["acme"] }),
      queue("all", "globex", { shared: true }),
      { metadata: { name: "team" }, spec: { owner: { kind: "Team", name: "acme" } } } as GPUQueue,
    ];
    expect(allowedQueues("acme", queues)).to.deep.equal(["a", "all", "g-lent"]);
    expect(allowedQueues("globex", queues)).to.deep.equal(["all", "g", "g-lent"]);
    expect(
      queueOpenTo({ ...queue("x", "acme"), metadata: { name: "x", deletionTimestamp: "now" } }, "acme"),
    ).to.equal(false);
  });
});
