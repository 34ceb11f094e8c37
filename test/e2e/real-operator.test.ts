// The operator the way users run it: pods on a real node, from the image built from the
// repository's Dockerfile, installed by `helm install` and by `kubectl apply --server-side -f
// manifests/install.yaml`. Two replicas authenticate with their mounted service-account token
// (the chart's RBAC and nothing more), one leads, killing its container makes the other lead,
// kubelet's probe of /readyz gates readiness, a real Prometheus scrapes both pods, every sample
// reconciles, and uninstalling leaves nothing. Skipped, with one line, without real nodes.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { controllerModules } from "../../controllers/index.ts";
import { TenantLedgerResource } from "../../controllers/tenancy/api.ts";
import type { TenantLedger } from "../../controllers/tenancy/ledger.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { KubeObject } from "../../pkg/kube/object.ts";
import { Resources, type ResourceType } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import { loadOperatorImage, realNodeHelmInstall } from "../../pkg/localcluster/operator-image.ts";
import { realNodesUnavailable } from "../../pkg/localcluster/real-node.ts";
import { REAL_NODE_NAME, realNodeLayout } from "../../pkg/localcluster/real-node-config.ts";
import { startTestCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { applyYaml } from "../../pkg/testing/manifests.ts";
import { waitFor } from "../../pkg/testing/wait.ts";
import {
  deleteSamples,
  forbiddenRequests,
  isCentaurus,
  operatorObjects,
  samplesReady,
  samplesText,
  startPrometheus,
} from "./shipping.ts";

const NAMESPACE = "centaurus-system";
const SELECTOR = "app.kubernetes.io/name=centaurus,app.kubernetes.io/instance=centaurus";
const LEASE = "centaurus-manager";

interface Pod extends KubeObject {
  spec: {
    nodeName?: string;
    serviceAccountName?: string;
    containers: Array<{ image: string; readinessProbe?: { httpGet?: { path?: string } } }>;
  };
  status?: {
    podIP?: string;
    conditions?: Array<{ type: string; status: string; lastTransitionTime?: string }>;
    containerStatuses?: Array<{
      containerID?: string;
      restartCount: number;
      state?: { running?: { startedAt: string } };
    }>;
  };
}
interface Lease extends KubeObject {
  spec: { holderIdentity?: string };
}

const isReady = (p: Pod) =>
  p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

async function operatorPods(admin: KubeClient): Promise<Pod[]> {
  return (await admin.list<Pod>(Resources.Pod, { namespace: NAMESPACE, labelSelector: SELECTOR })).items;
}

async function leader(admin: KubeClient): Promise<string | undefined> {
  const lease = await admin.get<Lease>(Resources.Lease, LEASE, NAMESPACE).catch(() => undefined);
  return lease?.spec.holderIdentity?.split("_")[0];
}

describe("e2e: the operator as pods on a real node (image, helm, install.yaml)", function () {
  this.timeout(20 * 60_000);
  let cluster: LocalCluster;
  let admin: KubeClient;
  let image: { repository: string; tag: string; image: string };
  let work: string;
  const tool = (name: string, args: string[]) =>
    execFileSync(join(cluster.state.binDir, name), [...args, "--kubeconfig", cluster.kubeconfigPath], {
      encoding: "utf8",
      timeout: 180_000,
    });

  before(async function (this: Mocha.Context) {
    const why = realNodesUnavailable();
    if (why) {
      process.stderr.write(`real-node operator tests skipped: real nodes are unavailable here: ${why}\n`);
      this.skip();
    }
    if (controllerModules.length === 0) this.skip();
    cluster = await startTestCluster({ name: uniqueName("test-realop"), nodes: { real: 1 } });
    admin = await cluster.clientFor();
    image = await loadOperatorImage(cluster.name);
    work = mkdtempSync(join(tmpdir(), "centaurus-realop-"));
  });
  after(async () => {
    admin?.close();
    await cluster?.down();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Two pods of the image on the real node, both Ready; returns them. */
  const twoReadyPods = () =>
    waitFor(
      "two operator pods Ready on the real node",
      async () => {
        const pods = await operatorPods(admin);
        return pods.length === 2 && pods.every(isReady) ? pods : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );

  /** What both installs must show, from pods Ready to samples reconciled to failover. */
  async function exercise(
    pods: Pod[],
  ): Promise<{ applied: Array<{ resource: ResourceType; object: KubeObject }> }> {
    for (const p of pods) {
      expect(p.spec.nodeName).to.equal(REAL_NODE_NAME);
      expect(p.spec.containers[0]?.image).to.equal(image.image);
      expect(p.spec.serviceAccountName).to.equal("centaurus");
      expect(p.spec.containers[0]?.readinessProbe?.httpGet?.path).to.equal("/readyz");
      expect((await fetch(`http://${p.status?.podIP}:8081/readyz`)).status).to.equal(200);
      // In-cluster configuration: the mounted token, the kubernetes Service.
      const logs = tool("kubectl", ["logs", "-n", NAMESPACE, p.metadata.name ?? ""]);
      expect(logs).to.contain('"server":"https://10.96.0.1/"');
    }
    const names = pods.map((p) => p.metadata.name);
    // A Lease left by an earlier install names a pod that is gone until it expires.
    const lead = await waitFor(
      "one of the two pods to lead",
      async () => {
        const l = await leader(admin);
        return l && names.includes(l) ? l : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(names).to.include(lead);

    const applied = await applyYaml(admin, samplesText());
    expect(applied.filter((a) => isCentaurus(a.resource)).length).to.be.greaterThan(0);
    await waitFor("every sample to be Ready", () => samplesReady(admin, applied), { timeoutMs: 180_000 });
    // The sample VM and its launcher were admitted by the tenant-quota webhook, served by the
    // pods behind the chart's Service with the certificate they share: both are charged.
    const hook = await admin.get<KubeObject & { webhooks: Array<{ clientConfig: Record<string, unknown> }> }>(
      Resources.ValidatingWebhookConfiguration,
      "centaurus",
    );
    expect(hook.webhooks[0]?.clientConfig).to.have.property("caBundle");
    expect(hook.webhooks[0]?.clientConfig).to.have.nested.property("service.name", "centaurus-webhook");
    const ledger = await admin.get<TenantLedger>(TenantLedgerResource, "acme");
    expect(Object.values(ledger.spec.charges ?? {}).map((c) => c.split("/")[0])).to.include.members([
      "virtualmachines",
      "pods",
    ]);
    for (const p of pods)
      expect(await forbiddenRequests(8080, p.status?.podIP), `403s of ${p.metadata.name}`).to.equal(0);
    return { applied };
  }

  /** Kills the leader's container (as a crash would); the other pod leads within 20 s. */
  async function failover(pods: Pod[]): Promise<number> {
    const lead = await leader(admin);
    const victim = pods.find((p) => p.metadata.name === lead);
    const id = victim?.status?.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, "");
    expect(id, "the leader's container").to.be.a("string");
    const socket = realNodeLayout(cluster.state.dir).containerdSocket;
    const started = Date.now();
    execFileSync("ctr", [
      "--address",
      socket,
      "-n",
      "k8s.io",
      "task",
      "kill",
      "--signal",
      "SIGKILL",
      id ?? "",
    ]);
    const next = await waitFor(
      "another pod to lead",
      async () => {
        const l = await leader(admin);
        return l && l !== lead ? l : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const ms = Date.now() - started;
    expect(pods.map((p) => p.metadata.name)).to.include(next);
    expect(ms, "failover time (ms)").to.be.below(20_000);
    // The killed container restarts; kubelet's probe of /readyz keeps it out of Ready until it answers.
    await waitFor(
      "the restarted pod Ready again",
      async () => {
        const p = (await operatorPods(admin)).find((x) => x.metadata.name === lead);
        return p && (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && isReady(p) ? p : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    return ms;
  }

  it("helm install: two pods from the local image, service-account token, no 403s, one leads, failover < 20 s, Prometheus scrapes both, samples reconcile, helm uninstall leaves nothing", async () => {
    tool("helm", ["install", ...realNodeHelmInstall(image)]);
    const pods = await twoReadyPods();
    const { applied } = await exercise(pods);

    const prometheus = await startPrometheus(
      work,
      pods.map((p) => `${p.status?.podIP}:8080`),
    );
    try {
      await waitFor(
        "Prometheus to scrape both operator pods and the leader's reconciles",
        async () => {
          const up = await prometheus.query('up{job="centaurus"} == 1');
          const reconciles = await prometheus.query(
            "sum by (controller) (controller_runtime_reconcile_total)",
          );
          return up.length === 2 && reconciles.length > 0 ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
    } finally {
      prometheus.stop();
    }
    const ms = await failover(pods);
    process.stderr.write(`      leader failover after killing its container: ${(ms / 1000).toFixed(1)} s\n`);

    await deleteSamples(admin, applied);
    tool("helm", ["uninstall", "centaurus", "--namespace", NAMESPACE, "--wait"]);
    await waitFor("no operator objects or pods left", async () =>
      (await operatorObjects(admin)).length === 0 && (await operatorPods(admin)).length === 0
        ? true
        : undefined,
    );
  });

  it("kubectl apply --server-side -f manifests/install.yaml: the same image and checks, and kubectl delete leaves nothing", async () => {
    // The published image's name replaced by the local one, and the pods sent to the real node.
    const text = readFileSync("manifests/install.yaml", "utf8")
      .replace(/image: "ghcr\.io\/centaurus\/centaurus:[^"]*"/, `image: "${image.image}"`)
      .replace(
        /( +)serviceAccountName: centaurus\n/,
        `$1serviceAccountName: centaurus\n$1nodeSelector: { centaurus.io/node-profile: real }\n`,
      );
    expect(text).to.contain(image.image);
    const file = join(work, "install.yaml");
    writeFileSync(file, text);
    tool("kubectl", ["apply", "--server-side", "-f", file]);
    const pods = await twoReadyPods();
    const { applied } = await exercise(pods);
    await failover(pods);
    await deleteSamples(admin, applied);
    tool("kubectl", ["delete", "-f", file, "--ignore-not-found", "--wait=true"]);
    await waitFor("no operator objects or pods left", async () =>
      (await operatorObjects(admin)).length === 0 && (await operatorPods(admin)).length === 0
        ? true
        : undefined,
    );
  });
});
