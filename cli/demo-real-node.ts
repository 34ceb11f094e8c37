// `centaurus demo` on a root cluster with a real node: the operator runs the way users run it,
// `helm install` of the chart with the image built from the repository's Dockerfile, two
// replicas on the real node electing a leader; and one sample workload really runs there.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import type { KubeClient } from "../pkg/kube/client.ts";
import type { KubeObject } from "../pkg/kube/object.ts";
import { Resources } from "../pkg/kube/resource.ts";
import type { LocalCluster } from "../pkg/localcluster/cluster.ts";
import { loadOperatorImage, realNodeHelmInstall } from "../pkg/localcluster/operator-image.ts";
import { applyYaml } from "../pkg/testing/manifests.ts";
import { waitFor } from "../pkg/testing/wait.ts";

const NAMESPACE = "centaurus-system";
export const REAL_NODE_SAMPLE = "manifests/samples/real-node/hello.yaml";

/** Builds and loads the operator image, helm-installs the chart onto the real node, waits for a leader. */
export async function helmInstallOperator(
  cluster: LocalCluster,
  client: KubeClient,
  log: (s: string) => void,
) {
  log("==> building the operator image from the Dockerfile (cached by content) and loading it into real-0");
  const image = await loadOperatorImage(cluster.name);
  log(`==> helm install centaurus (image ${image.image}, 2 replicas on the real node)`);
  execFileSync(
    join(cluster.state.binDir, "helm"),
    [
      "upgrade",
      "--install",
      ...realNodeHelmInstall(image),
      "--wait",
      "--timeout=5m",
      `--kubeconfig=${cluster.kubeconfigPath}`,
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const pods = await client.list(Resources.Pod, {
    namespace: NAMESPACE,
    labelSelector: "app.kubernetes.io/name=centaurus",
  });
  const names = pods.items.map((p) => p.metadata.name ?? "");
  const leader = await waitFor(
    "one of the operator pods to lead",
    async () => {
      const lease = await client.get<KubeObject & { spec: { holderIdentity?: string } }>(
        Resources.Lease,
        "centaurus-manager",
        NAMESPACE,
      );
      const holder = lease.spec.holderIdentity?.split("_")[0];
      return holder && names.includes(holder) ? holder : undefined;
    },
    { timeoutMs: 60_000 },
  );
  log(`  operator pods ${names.join(", ")} Ready; ${leader} leads`);
}

/** Applies the sample that really runs and prints its first output (what kubectl logs shows). */
export async function runRealWorkload(cluster: LocalCluster, client: KubeClient, log: (s: string) => void) {
  await applyYaml(client, readFileSync(REAL_NODE_SAMPLE, "utf8"));
  const logs = await waitFor(
    "the real-node sample's output",
    () => {
      const out = execFileSync(
        join(cluster.state.binDir, "kubectl"),
        ["logs", "hello-real-node", "--namespace=default", `--kubeconfig=${cluster.kubeconfigPath}`],
        { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
      );
      return out.trim() ? out.trim() : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  log(`==> the sample on the real node runs; kubectl logs hello-real-node:\n  ${logs.split("\n")[0]}`);
}

/**
 * edge-1's kubeconfig as the operator pods on root's real node must see it: its API server
 * listens on 127.0.0.1, so pods reach it at the node's gateway (a DNAT rule root's real node
 * owns), verified under the name "localhost" that its certificate carries.
 */
export function edgeKubeconfigForPods(root: LocalCluster, child: LocalCluster): string {
  const address = root.exposeToRealNodePods(child.state.ports["kube-apiserver"]);
  const kc = parse(readFileSync(child.kubeconfigPath, "utf8")) as {
    clusters: Array<{ cluster: Record<string, string> }>;
  };
  for (const c of kc.clusters) {
    c.cluster.server = `https://${address}`;
    c.cluster["tls-server-name"] = "localhost";
  }
  return stringify(kc);
}
