// VirtualMachines that boot a real guest on a real node: the launcher pod (launcher image with
// QEMU, the test guest as a container disk, copied in by init containers) passes Pod Security
// baseline, the VM is Running only once the guest booted, says it runs under TCG and why, its
// console (`kubectl logs`, `centaurus vm console`) shows the boot and the cloud-init marker;
// Stopped powers the guest off through ACPI and removes the launcher; Running boots it again;
// a container disk that does not exist shows as Ready=False with the reason. Skipped, with one
// line saying why, where real nodes or QEMU are unavailable.

import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect } from "chai";
import { type VirtualMachine, VirtualMachineResource } from "../../controllers/compute/api.ts";
import { GUESTS_LABEL, LAUNCHER_OVERHEAD } from "../../controllers/compute/guest.ts";
import { computeModule } from "../../controllers/compute/index.ts";
import { virtualMachineController } from "../../controllers/compute/reconcile.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { Pod } from "../../pkg/kube/core.ts";
import { isNotFound } from "../../pkg/kube/errors.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import { loadLauncherImages } from "../../pkg/localcluster/launcher-image.ts";
import { realNodesUnavailable } from "../../pkg/localcluster/real-node.ts";
import { REAL_NODE_NAME } from "../../pkg/localcluster/real-node-config.ts";
import { Manager } from "../../pkg/manager/manager.ts";
import { startTestCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import { installModules } from "../fixtures/tenancy.ts";

const NS = "vm-e2e";
const MARKER = "centaurus-e2e-marker-4242";

describe("e2e: a VirtualMachine boots a real guest on a real node", function () {
  this.timeout(8 * 60_000);
  let cluster: LocalCluster;
  let admin: KubeClient;
  let manager: Manager | undefined;
  let images: { launcher: string; guestDisk: string };
  const followers: ChildProcess[] = [];
  const kubectl = (args: string[]) =>
    execFileSync(join(cluster.state.binDir, "kubectl"), [`--kubeconfig=${cluster.kubeconfigPath}`, ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
  const getVM = () => admin.get<VirtualMachine>(VirtualMachineResource, "guest", NS);
  const waitPhase = (phase: string, timeoutMs = 120_000) =>
    waitFor(
      `VM guest ${phase}`,
      async () => {
        const v = await getVM();
        if (v.status?.phase === phase) return v;
        throw new Error(`phase ${v.status?.phase}: ${JSON.stringify(v.status?.conditions)}`);
      },
      { timeoutMs, intervalMs: 250 },
    );
  const launcherGone = () =>
    waitFor(
      "the launcher pod to be gone",
      async () => {
        try {
          await admin.get(Resources.Pod, "guest-launcher", NS);
          return undefined;
        } catch (err) {
          if (isNotFound(err)) return true;
          throw err;
        }
      },
      { timeoutMs: 60_000 },
    );
  const power = (powerState: "Running" | "Stopped") =>
    admin.patch(VirtualMachineResource, "guest", NS, "merge", { spec: { powerState } });

  before(async function (this: Mocha.Context) {
    const why =
      realNodesUnavailable() ??
      (spawnSync("qemu-system-x86_64", ["--version"]).status === 0
        ? undefined
        : "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)");
    if (why) {
      process.stderr.write(`real-node VM tests skipped: ${why}\n`);
      this.skip();
    }
    cluster = await startTestCluster({ name: uniqueName("test-realvm"), nodes: { real: 1 } });
    admin = await cluster.clientFor();
    images = await loadLauncherImages(cluster.name);
    await installModules(admin, [computeModule]);
    manager = new Manager({
      client: admin,
      metricsBindAddress: "",
      healthProbeBindAddress: "",
      leaderElection: false,
    });
    manager.add(virtualMachineController(admin, { launcherImage: images.launcher }));
    await manager.start();
    // The launcher must pass the baseline Pod Security level (no privilege, no host paths).
    await admin.create(Resources.Namespace, {
      metadata: { name: NS, labels: { "pod-security.kubernetes.io/enforce": "baseline" } },
    });
  });
  after(async () => {
    for (const f of followers) f.kill();
    if (admin) {
      await admin.delete(VirtualMachineResource, "guest", NS).catch(() => undefined);
      await admin.delete(Resources.Namespace, NS).catch(() => undefined);
    }
    await manager?.stop();
    admin?.close();
    await cluster?.down();
  });

  /** `kubectl logs -f` of the launcher from now on: what it printed so far, as it goes. */
  const follow = () => {
    let out = "";
    const child = spawn(
      join(cluster.state.binDir, "kubectl"),
      [`--kubeconfig=${cluster.kubeconfigPath}`, "logs", "-f", "-n", NS, "guest-launcher", "-c", "compute"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString("utf8");
    });
    followers.push(child);
    return () => out;
  };

  it("boots: Running once the guest booted, TCG and why, the console shows the boot and the cloud-init marker", async () => {
    const node = await admin.get<{ metadata: { labels?: Record<string, string> } }>(
      Resources.Node,
      REAL_NODE_NAME,
    );
    expect(node.metadata.labels?.[GUESTS_LABEL]).to.equal("qemu");
    await admin.create(VirtualMachineResource, {
      metadata: { name: "guest", namespace: NS },
      spec: {
        image: images.guestDisk,
        cpu: 1,
        memory: "256Mi",
        cloudInit: { userData: `#cloud-config\nruncmd: [echo ${MARKER}]\n` },
      },
    } as VirtualMachine);
    const started = Date.now();
    const running = await waitPhase("Running");
    process.stderr.write(`      create to guest booted: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    expect(running.status?.node).to.equal(REAL_NODE_NAME);
    const pod = await admin.get<Pod>(Resources.Pod, "guest-launcher", NS);
    const spec = pod.spec as unknown as {
      containers: Array<{
        image: string;
        resources: { limits: Record<string, string> };
        securityContext?: { privileged?: boolean };
      }>;
      initContainers: Array<{ image: string }>;
    };
    expect(spec.containers[0]?.image).to.equal(images.launcher);
    expect(spec.initContainers.map((c) => c.image)).to.deep.equal([images.launcher, images.guestDisk]);
    expect(spec.containers[0]?.securityContext?.privileged).to.not.equal(true);
    // The guest's 1 CPU and 256 Mi, plus the launcher's overhead.
    expect(spec.containers[0]?.resources.limits).to.deep.equal({
      cpu: `${1000n + LAUNCHER_OVERHEAD.cpuMilli}m`,
      memory: `${256n + LAUNCHER_OVERHEAD.memoryMi}Mi`,
    });
    // Running means the guest booted: the console already shows its ready marker.
    const logs = kubectl(["logs", "-n", NS, "guest-launcher", "-c", "compute"]);
    expect(logs).to.contain("centaurus-guest: booted kernel");
    expect(logs).to.contain(MARKER);
    expect(logs).to.contain("centaurus-guest: ready");
    // `centaurus vm console` prints the same console.
    const printed = execFileSync(
      "node",
      ["--import", "tsx", "bin/centaurus.ts", "vm", "console", `${NS}/guest`, "--no-follow"],
      { encoding: "utf8", env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath }, timeout: 60_000 },
    );
    expect(printed).to.contain("centaurus-guest: booted kernel");
    expect(printed).to.contain(MARKER);
    const guest = await waitFor(
      "the Guest condition to say the acceleration",
      async () => {
        const v = await getVM();
        const c = v.status?.conditions?.find((x) => x.type === "Guest");
        return c?.status === "True" ? { c, v } : undefined;
      },
      { timeoutMs: 30_000 },
    );
    // This machine's guests run under TCG: the launcher pod has no /dev/kvm (no device plugin).
    expect(guest.c.reason).to.equal("TCG");
    expect(guest.c.message).to.contain("no /dev/kvm here");
    expect(guest.v.status?.guest?.acceleration).to.equal("TCG");
    expect(guest.v.status?.conditions?.[0]).to.include({ type: "Ready", status: "True" });
  });

  it("Stopped powers the guest off (ACPI) and removes the launcher; Running boots it again", async () => {
    const console = follow();
    await waitFor("kubectl logs -f to follow the console", () =>
      console().includes(MARKER) ? true : undefined,
    );
    await power("Stopped");
    await waitPhase("Stopped", 60_000);
    await launcherGone();
    // A clean shutdown: the guest saw the power button and the launcher saw it power off.
    await waitFor(
      "the console's last lines",
      () => (console().includes("guest powered off") ? true : undefined),
      {
        timeoutMs: 10_000,
      },
    );
    expect(console()).to.contain("centaurus-guest: power button: shutting down");
    expect(console()).to.not.contain("killing it");

    await power("Running");
    const again = await waitPhase("Running");
    expect(again.status?.node).to.equal(REAL_NODE_NAME);
    const logs = kubectl(["logs", "-n", NS, "guest-launcher", "-c", "compute"]);
    expect(logs).to.contain("centaurus-guest: booted kernel");
    expect(logs).to.contain(MARKER);
  });

  it("a VM whose container disk does not exist is Ready=False with the reason", async () => {
    // The real node has 2 CPUs here: the first VM's launcher (1100m) goes first.
    await admin.delete(VirtualMachineResource, "guest", NS);
    await launcherGone();
    await admin.create(VirtualMachineResource, {
      metadata: { name: "nodisk", namespace: NS },
      spec: { image: "centaurus.local/guest-disk:does-not-exist", cpu: 1, memory: "128Mi" },
    } as VirtualMachine);
    const ready = await waitFor(
      "VM nodisk to say its image is unavailable",
      async () => {
        const v = await admin.get<VirtualMachine>(VirtualMachineResource, "nodisk", NS);
        const c = v.status?.conditions?.[0];
        return c?.reason === "ImageUnavailable" ? c : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(ready.status).to.equal("False");
    expect(ready.message).to.contain("centaurus.local/guest-disk:does-not-exist");
    await admin.delete(VirtualMachineResource, "nodisk", NS);
  });
});
