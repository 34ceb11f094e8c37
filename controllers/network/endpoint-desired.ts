// A pod's desired network (pure, no I/O): which subnets its interfaces join, each interface's
// Endpoint, and the IP annotations the pod should carry.

import type { Pod } from "../../pkg/kube/core.ts";
import { canonicalJSON, controllerReference } from "../../pkg/kube/object.ts";
import { TENANT_LABEL } from "../shared/tenant.ts";
import {
  API_VERSION,
  type Endpoint,
  IP_ANNOTATION,
  type IPAddress,
  IPS_ANNOTATION,
  type NamedPort,
  SUBNET_ANNOTATION,
  SUBNET_LABEL,
  type Subnet,
  VPC_LABEL,
} from "./api.ts";
import { macFor } from "./ipam.ts";

/**
 * The pod as its network objects describe it: its tenant label is its namespace's tenant (or
 * none), whatever the pod itself carries — a tenant is known by its namespace.
 */
export function withNamespaceTenant(pod: Pod, tenant: string | undefined): Pod {
  const { [TENANT_LABEL]: _own, ...labels } = pod.metadata.labels ?? {};
  if (tenant) labels[TENANT_LABEL] = tenant;
  return { ...pod, metadata: { ...pod.metadata, labels } };
}

/** The tenant label a pod's network objects inherit (see withNamespaceTenant). */
export function tenantLabelOf(pod: {
  metadata: { labels?: Record<string, string> };
}): Record<string, string> {
  const tenant = pod.metadata.labels?.[TENANT_LABEL];
  return tenant ? { [TENANT_LABEL]: tenant } : {};
}

/**
 * Whether an endpoint's address was claimed for it (the claim names this endpoint and pod
 * incarnation): the network controller claims before it writes the endpoint, so an endpoint
 * without its claim was made by hand and enters no NodeProgram, whoever wrote it.
 */
export function claimedFor(e: Endpoint, claim: IPAddress | undefined): boolean {
  const c = claim?.spec.endpoint;
  return (
    !!c &&
    claim?.spec.ip === e.spec.ip &&
    c.namespace === e.metadata.namespace &&
    c.name === e.metadata.name &&
    c.podUID === e.spec.pod.uid
  );
}

/** eth0's Endpoint is named after the pod; further interfaces get a suffix. */
export function endpointName(pod: string, iface: number): string {
  return iface === 0 ? pod : `${pod}.eth${iface}`;
}

/** Gone or finished pods hold no addresses. */
export function podHoldsAddresses(pod: Pod | undefined): pod is Pod {
  return (
    !!pod &&
    !pod.metadata.deletionTimestamp &&
    pod.status?.phase !== "Succeeded" &&
    pod.status?.phase !== "Failed"
  );
}

/** The subnets a pod names (annotation, in interface order). */
export function annotatedSubnets(pod: {
  metadata: { annotations?: Record<string, string> };
}): string[] | undefined {
  const annotated = pod.metadata.annotations?.[SUBNET_ANNOTATION];
  if (!annotated) return undefined;
  return annotated
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The subnets of the pod's interfaces: those it names, else its namespace's default (first by name). */
export function wantedSubnets(pod: Pod, namespaceDefaults: Subnet[]): string[] {
  const annotated = annotatedSubnets(pod);
  if (annotated) return annotated;
  const defaults = namespaceDefaults
    .filter((s) => !s.metadata.deletionTimestamp)
    .map((s) => s.metadata.name ?? "")
    .sort((a, b) => a.localeCompare(b));
  return defaults.length ? [defaults[0] as string] : [];
}

/** The Endpoint of interface `i` of a pod on `subnet` at `ip`. */
export function desiredEndpoint(pod: Pod, subnet: Subnet, ip: string, i: number): Endpoint {
  const name = pod.metadata.name ?? "";
  const subnetName = subnet.metadata.name ?? "";
  const namedPorts = podNamedPorts(pod);
  return {
    apiVersion: API_VERSION,
    kind: "VPCEndpoint",
    metadata: {
      name: endpointName(name, i),
      namespace: pod.metadata.namespace ?? "",
      labels: {
        [SUBNET_LABEL]: subnetName,
        [VPC_LABEL]: subnet.spec.vpc,
        ...tenantLabelOf(pod),
      },
      // No blockOwnerDeletion: that would need update rights on pods/finalizers.
      ownerReferences: [{ ...controllerReference(pod), blockOwnerDeletion: false }],
    },
    spec: {
      subnet: subnetName,
      vpc: subnet.spec.vpc,
      vni: subnet.status?.vni ?? 0,
      ip,
      mac: macFor(ip),
      interface: `eth${i}`,
      ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
      pod: { name, uid: pod.metadata.uid ?? "" },
      podLabels: { ...(pod.metadata.labels ?? {}) },
      ...(namedPorts.length ? { namedPorts } : {}),
    },
  };
}

/** The pod's named container ports, sorted by name (a name is unique within a pod). */
export function podNamedPorts(pod: Pod): NamedPort[] {
  const out: NamedPort[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!p.name) continue;
      const protocol = p.protocol === "UDP" || p.protocol === "SCTP" ? p.protocol : "TCP";
      out.push({ name: p.name, protocol, port: p.containerPort });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * What to do with the Endpoint already there: keep it (and apply the desired one over it),
 * replace it (its address is immutable and the interface moved), or evict another pod's.
 */
export function endpointAction(
  current: Endpoint | undefined,
  desired: Endpoint,
): "keep" | "replace" | "evict" {
  if (!current) return "keep";
  if (current.spec.pod.uid !== desired.spec.pod.uid) return "evict";
  return current.spec.ip !== desired.spec.ip ? "replace" : "keep";
}

/** Whether the current Endpoint differs from the desired one in what this controller owns. */
export function endpointDiffers(current: Endpoint | undefined, desired: Endpoint): boolean {
  return (
    !current ||
    canonicalJSON(current.spec) !== canonicalJSON(desired.spec) ||
    canonicalJSON(current.metadata.labels) !== canonicalJSON(desired.metadata.labels)
  );
}

/** The annotation changes (null removes) that make the pod show its addresses. */
export function ipAnnotations(pod: Pod, ips: string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (pod.metadata.annotations?.[IP_ANNOTATION] !== ips[0]) out[IP_ANNOTATION] = ips[0] ?? null;
  const multi = ips.length > 1 ? ips.map((ip, i) => `eth${i}=${ip}`).join(",") : undefined;
  if (pod.metadata.annotations?.[IPS_ANNOTATION] !== multi) out[IPS_ANNOTATION] = multi ?? null;
  return out;
}
