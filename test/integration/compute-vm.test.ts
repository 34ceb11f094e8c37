// VirtualMachines on kwok nodes through a real API server: the launcher lifecycle (start,
// stop, start, reboot), bad specs refused at admission or reported with a reason, the
// tenant's VM quota and allowed runtime classes.

import { expect } from "chai";
import { type VirtualMachine, VirtualMachineResource } from "../../controllers/compute/api.ts";
import { computeModule } from "../../controllers/compute/index.ts";
import { type Tenant, TenantResource } from "../../controllers/tenancy/api.ts";
import { tenancyModule } from "../../controllers/tenancy/index.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { Pod } from "../../pkg/kube/core.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { Manager } from "../../pkg/manager/manager.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import { errorOf, installModules, pod, startManager, vm, waitGone, waitReady } from "../fixtures/tenancy.ts";

describe("compute: VirtualMachine", function () {
  this.timeout(240_000);
  let admin: KubeClient;
  let manager: Manager;
  const tenants: string[] = [];

  const tenant = async (spec: Tenant["spec"]): Promise<string> => {
    const name = uniqueName("tv");
    tenants.push(name);
    await admin.create(TenantResource, { metadata: { name }, spec } as Tenant);
    await waitReady(admin, name);
    return `${name}-default`;
  };
  const getVM = (name: string, ns: string) => admin.get<VirtualMachine>(VirtualMachineResource, name, ns);
  const waitPhase = (name: string, ns: string, phase: string) =>
    waitFor(`VM ${name} ${phase}`, async () => {
      const v = await getVM(name, ns);
      if (v.status?.phase === phase) return v;
      throw new Error(`phase ${v.status?.phase}: ${JSON.stringify(v.status?.conditions)}`);
    });

  before(async () => {
    admin = await testCluster().clientFor();
    await installModules(admin, [tenancyModule, computeModule]);
    manager = await startManager(admin, [tenancyModule, computeModule]);
  });
  after(async () => {
    for (const t of tenants) await admin.delete(TenantResource, t);
    for (const t of tenants) await waitGone(`tenant ${t}`, () => admin.get(TenantResource, t), 90_000);
    await manager.stop();
    admin.close();
  });

  it("runs as a launcher pod: Running with node and IP; Stopped frees it; Running again; reboots are counted", async () => {
    const ns = await tenant({ quota: { cpu: "8", memory: "16Gi", pods: 10, virtualmachines: 3 } });
    const tenantName = ns.replace(/-default$/, "");
    await admin.create(
      VirtualMachineResource,
      vm("web", ns, { cloudInit: { userData: "#cloud-config\n" }, sshKeys: ["ssh-ed25519 AAAA test"] }),
    );
    const running = await waitPhase("web", ns, "Running");
    expect(running.status?.node).to.match(/^kwok-/);
    expect(running.status?.ipAddresses?.[0]).to.match(/^10\.244\./);
    expect(running.status?.launcherPod).to.equal("web-launcher");
    expect(running.status?.conditions?.[0]).to.include({ type: "Ready", status: "True" });
    // A kwok node fakes its pods: the VM says no guest runs there.
    const guest = running.status?.conditions?.find((c) => c.type === "Guest");
    expect(guest).to.include({ status: "False", reason: "NoGuest" });
    expect(guest?.message)
      .to.contain(running.status?.node ?? "?")
      .and.contain("no guest runs");
    const launcher = await admin.get<Pod>(Resources.Pod, "web-launcher", ns);
    expect(launcher.metadata.ownerReferences?.[0]).to.include({
      kind: "VirtualMachine",
      name: "web",
      uid: running.metadata.uid,
    });
    expect(launcher.metadata.labels).to.include({ "tenancy.centaurus.io/tenant": tenantName });
    expect(launcher.spec?.runtimeClassName).to.equal("vm");
    await admin.get(Resources.Secret, "web-cloudinit", ns);
    // The VM's cpu is charged to the tenant like any pod's.
    await waitFor("the tenant to count the VM's cpu", async () => {
      const t = await admin.get<Tenant>(TenantResource, tenantName);
      if (t.status?.used?.cpu === "2" && t.status.used.virtualmachines === "1") return true;
      throw new Error(`used ${JSON.stringify(t.status?.used)}`);
    });

    await admin.patch(VirtualMachineResource, "web", ns, "merge", { spec: { powerState: "Stopped" } });
    const stopped = await waitPhase("web", ns, "Stopped");
    expect(stopped.status?.node).to.equal(undefined);
    expect(await errorOf(admin.get(Resources.Pod, "web-launcher", ns))).to.match(/not found/);
    await waitFor(
      "the VM's cpu to be freed",
      async () => (await admin.get<Tenant>(TenantResource, tenantName)).status?.used?.cpu === "0",
    );

    await admin.patch(VirtualMachineResource, "web", ns, "merge", { spec: { powerState: "Running" } });
    const again = await waitPhase("web", ns, "Running");
    const second = await admin.get<Pod>(Resources.Pod, "web-launcher", ns);
    expect(second.metadata.uid).to.not.equal(launcher.metadata.uid);
    expect(again.status?.restartCount ?? 0).to.equal(0);

    await admin.patch(VirtualMachineResource, "web", ns, "merge", {
      spec: { rebootRequestedAt: "2026-01-01T00:00:00Z" },
    });
    const rebooted = await waitFor("the reboot", async () => {
      const v = await getVM("web", ns);
      const p = await admin.get<Pod>(Resources.Pod, "web-launcher", ns).catch(() => undefined);
      return v.status?.phase === "Running" &&
        v.status.restartCount === 1 &&
        p &&
        p.metadata.uid !== second.metadata.uid
        ? v
        : undefined;
    });
    expect(rebooted.status?.observedRebootRequest).to.equal("2026-01-01T00:00:00Z");
    const events = await admin.list<KubeObject & { reason?: string; regarding?: { name?: string } }>(
      Resources.Event,
      { namespace: ns },
    );
    expect(events.items.filter((e) => e.regarding?.name === "web").map((e) => e.reason)).to.include.members([
      "Rebooting",
      "Rebooted",
    ]);
  });

  it("bad specs: refused at admission, or a False condition with a reason", async () => {
    const ns = await tenant({ allowedRuntimeClasses: ["kata"] });
    const noImage = await errorOf(
      admin.create(VirtualMachineResource, {
        metadata: { name: "a", namespace: ns },
        spec: {},
      } as VirtualMachine),
    );
    expect(noImage).to.match(/spec.image: Required value/);
    const zeroMem = await errorOf(
      admin.create(VirtualMachineResource, vm("b", ns, { memory: "0", runtimeClassName: "kata" })),
    );
    expect(zeroMem).to.match(/memory must be greater than 0/);
    const badMem = await errorOf(
      admin.create(VirtualMachineResource, vm("b", ns, { memory: "lots", runtimeClassName: "kata" })),
    );
    expect(badMem).to.match(/memory must be a quantity/);
    // Strings that are times and names are checked for their form, with what is expected.
    const badReboot = await errorOf(
      admin.create(
        VirtualMachineResource,
        vm("b", ns, { rebootRequestedAt: "yesterday", runtimeClassName: "kata" }),
      ),
    );
    expect(badReboot).to.match(/rebootRequestedAt must be an RFC 3339 time such as "2026-11-27T12:00:00Z"/);
    const badNic = await errorOf(
      admin.create(
        VirtualMachineResource,
        vm("b", ns, { interfaces: [{ name: "eth0", subnet: "My Subnet" }], runtimeClassName: "kata" }),
      ),
    );
    expect(badNic).to.match(/an interface's subnet must be an object name/);
    const badRc = await errorOf(
      admin.create(VirtualMachineResource, vm("b", ns, { runtimeClassName: "Kata!" })),
    );
    expect(badRc).to.match(/runtimeClassName must be an object name/);
    const rc = await errorOf(
      admin.create(VirtualMachineResource, vm("c", ns, { runtimeClassName: "gvisor" })),
    );
    expect(rc).to.match(/runtime class "gvisor" is not allowed in tenant .*allowed runtime classes: kata/);
    const defaultRc = await errorOf(admin.create(VirtualMachineResource, vm("c", ns)));
    expect(defaultRc).to.match(/runtime class "vm" is not allowed/);
    const plainPod = await errorOf(admin.create(Resources.Pod, pod("p", ns)));
    expect(plainPod).to.match(/runtime class \(none\) is not allowed/);
    await admin.create(Resources.Pod, pod("k", ns, { runtimeClassName: "kata" }));

    await admin.create(VirtualMachineResource, vm("huge", ns, { cpu: 500, runtimeClassName: "kata" }));
    const huge = await waitFor("the unschedulable VM to say why", async () => {
      const v = await getVM("huge", ns);
      const sched = v.status?.conditions?.find((c) => c.type === "Scheduled");
      return sched?.status === "False" ? v : undefined;
    });
    expect(huge.status?.phase).to.equal("Scheduling");
    expect(huge.status?.conditions?.find((c) => c.type === "Scheduled")).to.include({
      reason: "Unschedulable",
    });
    expect(huge.status?.conditions?.[0]).to.include({
      type: "Ready",
      status: "False",
      reason: "Unschedulable",
    });
    expect(huge.status?.conditions?.[0]?.message).to.match(/Insufficient cpu/);
  });

  it("the tenant's VM quota refuses one VM too many at admission, naming the tenant's quota", async () => {
    const ns = await tenant({ namespaces: ["b"], quota: { virtualmachines: 2 } });
    const t = ns.replace(/-default$/, "");
    await waitFor("VM 1", () => admin.create(VirtualMachineResource, vm("one", ns)));
    await waitFor("VM 2", () => admin.create(VirtualMachineResource, vm("two", `${t}-b`)), {
      timeoutMs: 90_000,
    });
    await waitFor(
      "the tenant to count 2 VMs",
      async () => (await admin.get<Tenant>(TenantResource, t)).status?.used?.virtualmachines === "2",
    );
    for (const n of [ns, `${t}-b`]) {
      expect(await errorOf(admin.create(VirtualMachineResource, vm("three", n)))).to.match(
        new RegExp(`exceeded quota: tenant-${t}-quota`),
      );
    }
    // A deleted VM frees its place.
    await admin.delete(VirtualMachineResource, "one", ns);
    await waitFor("VM 3 after one is deleted", () => admin.create(VirtualMachineResource, vm("three", ns)), {
      timeoutMs: 120_000,
    });
  });
});
