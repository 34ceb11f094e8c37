// A tenant's default VPC and subnet. The Tenant kind belongs to the tenancy pillar: when it
// is not installed, this test installs a minimal stand-in for the run and removes it after.

import { expect } from "chai";
import {
  type Endpoint,
  Endpoints,
  type Subnet,
  Subnets,
  type VPC,
  VPCs,
} from "../../controllers/network/api.ts";
import { networkModule } from "../../controllers/network/index.ts";
import { TENANT_CRD_NAME, Tenants } from "../../controllers/network/tenant.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { type CustomResourceDefinition, installCRDs } from "../../pkg/kube/crd.ts";
import { isInvalid, isNotFound } from "../../pkg/kube/errors.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import { createPod, installNetwork } from "../fixtures/network.ts";

const standIn: CustomResourceDefinition = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: TENANT_CRD_NAME },
  spec: {
    group: "tenancy.centaurus.io",
    scope: "Cluster",
    names: { kind: "Tenant", plural: "tenants", singular: "tenant", listKind: "TenantList" },
    versions: [
      {
        name: "v1alpha1",
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
      },
    ],
  },
};

describe("network: a tenant's default VPC and subnet", function () {
  this.timeout(120_000);
  let client: KubeClient;
  let manager: Manager;
  let installedStandIn = false;
  const tenant = uniqueName("acme");
  const ns = `${tenant}-apps`;

  before(async () => {
    client = await testCluster().clientFor();
    await installNetwork(client);
    try {
      await client.get(Resources.CustomResourceDefinition, TENANT_CRD_NAME);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await installCRDs(client, [standIn]);
      installedStandIn = true;
    }
    manager = new Manager({
      client,
      metricsBindAddress: "",
      healthProbeBindAddress: "",
      leaderElection: false,
      gracefulShutdownMs: 5_000,
    });
    await networkModule.setup(manager, client);
    await manager.start();
  });
  // A function, not an arrow: this mocha's Suite#timeout would re-arm the finished tests' timers.
  after(async function () {
    this.timeout(60_000);
    await client.delete(Resources.Namespace, ns).catch(() => undefined);
    // The tenant first (so nothing re-applies its network), then help the garbage collector:
    // the VPC-delete guard refuses the VPC until its subnet is gone, and GC retries slowly.
    await client.delete(Tenants, tenant).catch(() => undefined);
    await client.delete(Subnets, `${tenant}-default`).catch(() => undefined);
    await waitFor("VPC without subnets", async () => {
      const v = await client.get<VPC>(VPCs, `${tenant}-default`).catch(() => undefined);
      return !v || (v.status?.subnets ?? []).length === 0;
    }).catch(() => undefined);
    await client.delete(VPCs, `${tenant}-default`).catch(() => undefined);
    await manager?.stop();
    if (installedStandIn) {
      await client.delete(Resources.CustomResourceDefinition, TENANT_CRD_NAME).catch(() => undefined);
    }
    client?.close();
  });

  it("creates the tenant's VPC and subnet (owned by the Tenant) and defaults its namespaces to it", async function () {
    try {
      await client.create(Tenants, {
        apiVersion: "tenancy.centaurus.io/v1alpha1",
        kind: "Tenant",
        metadata: { name: tenant },
        spec: { network: { vpcCIDR: "10.110.0.0/16", subnetCIDR: "10.110.0.0/20" } },
      });
    } catch (err) {
      // The real Tenant kind may require fields this test does not know: nothing to check then.
      if (isInvalid(err)) this.skip();
      throw err;
    }
    await client.create(Resources.Namespace, {
      metadata: { name: ns, labels: { "tenancy.centaurus.io/tenant": tenant } },
    });
    const subnet = await waitFor("default subnet ready with the tenant's namespace", async () => {
      const s = await client.get<Subnet>(Subnets, `${tenant}-default`);
      const ok =
        s.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") &&
        s.spec.namespaces?.includes(ns);
      return ok ? s : undefined;
    });
    expect(subnet.spec).to.include({ vpc: `${tenant}-default`, cidr: "10.110.0.0/20" });
    expect(subnet.metadata.labels?.["tenancy.centaurus.io/tenant"]).to.equal(tenant);
    const vpc = await client.get<VPC>(VPCs, `${tenant}-default`);
    expect(vpc.spec).to.include({ cidr: "10.110.0.0/16", tenant });
    expect(vpc.metadata.ownerReferences?.[0]).to.include({ kind: "Tenant", name: tenant });
    await createPod(client, ns, "app");
    const ep = await waitFor("endpoint in the default subnet", () =>
      client.get<Endpoint>(Endpoints, "app", ns),
    );
    expect(ep.spec.subnet).to.equal(`${tenant}-default`);
    expect(ep.spec.ip).to.equal("10.110.0.2");
  });
});
