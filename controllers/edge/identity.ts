// Who a cluster is in the tree (pure): read from the identity ConfigMap its parent wrote into it
// (or one written by hand at the root), and the identity ConfigMap this cluster writes into each
// child, so the child can decide its own matches and refuse cycles.

import type { ConfigMap } from "../../pkg/kube/core.ts";
import { EDGE_NAMESPACE, IDENTITY_CONFIGMAP, PROPAGATED_BY_LABEL } from "./api.ts";
import type { ClusterIdentity } from "./placement.ts";
import { absolutePath } from "./tree.ts";

/** An ancestor of a cluster: its cluster id and absolute path ("" is the root). */
export interface Ancestor {
  clusterID: string;
  path: string;
}

/** Who this cluster is: written into it by its parent, or by hand at the root. */
export interface SelfIdentity extends ClusterIdentity {
  /** Ancestors from the root down (absolute paths), for cycle detection. */
  ancestors: Ancestor[];
}

export function parseIdentity(cm: ConfigMap | undefined): SelfIdentity {
  const d = cm?.data ?? {};
  const json = <T>(text: string | undefined, fallback: T): T => {
    try {
      return text ? (JSON.parse(text) as T) : fallback;
    } catch {
      return fallback;
    }
  };
  return {
    name: d.name ?? "",
    path: d.path ?? "",
    labels: json<Record<string, string>>(d.labels, {}),
    ancestors: json<Ancestor[]>(d.ancestors, []),
  };
}

/** The names a mission's overrides may use for this cluster: its name and absolute path. */
export function namesOf(self: ClusterIdentity): string[] {
  return [self.name, self.path].filter((n) => n !== "");
}

/**
 * The identity ConfigMap this cluster (`selfID`, who is `self`) writes into its child `child`:
 * the child's name and absolute path, its labels, and its ancestors (this cluster's plus this
 * cluster), labelled as written by this cluster so that detaching removes only its own.
 */
export function childIdentity(
  child: string,
  labels: Record<string, string> | undefined,
  self: SelfIdentity,
  selfID: string,
): ConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: IDENTITY_CONFIGMAP,
      namespace: EDGE_NAMESPACE,
      labels: { [PROPAGATED_BY_LABEL]: selfID },
    },
    data: {
      name: child,
      path: absolutePath(self.path, child),
      labels: JSON.stringify(labels ?? {}),
      ancestors: JSON.stringify([...self.ancestors, { clusterID: selfID, path: self.path }]),
    },
  };
}

/** Whether the identity ConfigMap found in a child was written by this cluster (so it may remove it). */
export function writtenBy(cm: ConfigMap | undefined, selfID: string): boolean {
  return cm?.metadata.labels?.[PROPAGATED_BY_LABEL] === selfID;
}
