// Where the client's cluster comes from: an explicit file, KUBECONFIG, ~/.kube/config or in-cluster.

import { KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { KubeClient } from "./client.ts";

export function loadKubeConfig(file?: string): KubeConfig {
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

/** A client for the configured cluster; a KubeConfig from a token string is handy in tests. */
export async function connect(file?: string): Promise<KubeClient> {
  return KubeClient.fromKubeConfig(loadKubeConfig(file));
}

/** A kubeconfig for one server and one bearer token (test users, service accounts). */
export function kubeConfigForToken(server: string, token: string, caData?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server, caData, skipTLSVerify: caData === undefined }],
    users: [{ name: "u", token }],
    contexts: [{ name: "ctx", cluster: "c", user: "u" }],
    currentContext: "ctx",
  });
  return kc;
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
