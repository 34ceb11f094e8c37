// Where the client's cluster comes from: an explicit file, KUBECONFIG, ~/.kube/config or in-cluster.

import type { KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { KubeClient } from "./client.ts";
import { readKubeconfig } from "./kubeconfig.ts";

/** client-node's reading of the configuration (plugins, merged files, in-cluster), loaded on demand. */
export async function loadKubeConfig(file?: string): Promise<KubeConfig> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) {
    throw new Error(
      "no Kubernetes cluster configured: set KUBECONFIG, pass --kubeconfig, or start the local one with `npx centaurus cluster up`",
    );
  }
  return kc;
}

/**
 * A client for the configured cluster. A plain kubeconfig (token or client certificate) is
 * read directly, so commands start quickly; anything else goes through client-node.
 */
export async function connect(file?: string): Promise<KubeClient> {
  const direct = readKubeconfig(file);
  if (direct) return KubeClient.fromOptions(direct.server, direct.options);
  return KubeClient.fromKubeConfig(await loadKubeConfig(file));
}

/** A client for one server and one bearer token (test users, service accounts, local clusters). */
export function clientForToken(server: string, token: string, caData?: string): KubeClient {
  return KubeClient.fromOptions(new URL(server), {
    headers: { Authorization: `Bearer ${token}` },
    ...(caData ? { ca: Buffer.from(caData, "base64") } : { rejectUnauthorized: false }),
  });
}

/** A kubeconfig file (YAML) for one server, its CA and one bearer token. */
export function kubeconfigYaml(opts: {
  name: string;
  server: string;
  caData: string;
  user: string;
  token: string;
}): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: opts.name, cluster: { server: opts.server, "certificate-authority-data": opts.caData } },
    ],
    users: [{ name: opts.user, user: { token: opts.token } }],
    contexts: [{ name: opts.name, context: { cluster: opts.name, user: opts.user } }],
    "current-context": opts.name,
  });
}
