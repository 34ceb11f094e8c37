// Reading a kubeconfig file for the common case, without @kubernetes/client-node.
//
// Why our own: importing client-node costs about 0.6 s of start-up (its whole generated
// API), which made every CLI command slower to start than kubectl by seconds. A kubeconfig
// whose current context names a server with a CA and a user with a token, a token file or a
// client certificate is read here; anything else (exec and auth-provider plugins, basic auth,
// several files in KUBECONFIG, in-cluster config) is left to client-node (undefined here).

import { existsSync, readFileSync } from "node:fs";
import type * as https from "node:https";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";

export interface Connection {
  server: URL;
  options: https.RequestOptions;
}

interface Named<T> {
  name?: string;
  [key: string]: unknown;
  value?: T;
}

interface ClusterEntry {
  server?: string;
  "certificate-authority"?: string;
  "certificate-authority-data"?: string;
  "insecure-skip-tls-verify"?: boolean;
}

interface UserEntry {
  token?: string;
  tokenFile?: string;
  "client-certificate"?: string;
  "client-certificate-data"?: string;
  "client-key"?: string;
  "client-key-data"?: string;
  [other: string]: unknown;
}

/** The kubeconfig file client-node would read: --kubeconfig, a one-file KUBECONFIG, ~/.kube/config. */
export function kubeconfigPath(explicit?: string): string | undefined {
  if (explicit) return explicit;
  const env = process.env.KUBECONFIG;
  if (env !== undefined && env !== "") return env.includes(":") ? undefined : env;
  const home = join(homedir(), ".kube", "config");
  return existsSync(home) ? home : undefined;
}

function entry<T>(list: unknown, name: string | undefined, key: string): T | undefined {
  if (!Array.isArray(list)) return undefined;
  const found = (list as Named<T>[]).find((e) => e.name === name);
  return found?.[key] as T | undefined;
}

const SUPPORTED_USER_KEYS = new Set([
  "token",
  "tokenFile",
  "client-certificate",
  "client-certificate-data",
  "client-key",
  "client-key-data",
]);

/** A connection from kubeconfig text, or undefined when it needs more than this reader knows. */
export function parseKubeconfig(text: string, baseDir: string): Connection | undefined {
  const doc = parse(text) as Record<string, unknown> | null;
  if (!doc || typeof doc !== "object") return undefined;
  const contextName = doc["current-context"] as string | undefined;
  const context = entry<{ cluster?: string; user?: string }>(doc.contexts, contextName, "context");
  const cluster = entry<ClusterEntry>(doc.clusters, context?.cluster, "cluster");
  const user = entry<UserEntry>(doc.users, context?.user, "user") ?? {};
  if (!cluster?.server) return undefined;
  if (Object.keys(user).some((k) => !SUPPORTED_USER_KEYS.has(k))) return undefined;
  const file = (p: string) => readFileSync(isAbsolute(p) ? p : join(baseDir, p));
  const b64 = (s: string) => Buffer.from(s, "base64");
  const options: https.RequestOptions = { headers: {} };
  if (cluster["certificate-authority-data"]) options.ca = b64(cluster["certificate-authority-data"]);
  else if (cluster["certificate-authority"]) options.ca = file(cluster["certificate-authority"]);
  if (cluster["insecure-skip-tls-verify"]) options.rejectUnauthorized = false;
  if (user["client-certificate-data"]) options.cert = b64(user["client-certificate-data"]);
  else if (user["client-certificate"]) options.cert = file(user["client-certificate"]);
  if (user["client-key-data"]) options.key = b64(user["client-key-data"]);
  else if (user["client-key"]) options.key = file(user["client-key"]);
  const token = user.token ?? (user.tokenFile ? file(user.tokenFile).toString("utf8").trim() : undefined);
  if (token) options.headers = { Authorization: `Bearer ${token}` };
  return { server: new URL(cluster.server), options };
}

/** The connection of the kubeconfig file that would be used, when this reader can read it. */
export function readKubeconfig(explicit?: string): Connection | undefined {
  const path = kubeconfigPath(explicit);
  if (!path || !existsSync(path)) return undefined;
  return parseKubeconfig(readFileSync(path, "utf8"), dirname(path));
}
