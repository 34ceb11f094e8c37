// Address claims: the API server is the arbiter of who holds an address (one IPAddress object
// per address, created or refused). The pools are a cache of the claims it holds, kept in step
// by the claim informer and rebuilt from it after a restart or a spec change.

import type { Informer } from "../../pkg/cache/informer.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import type { Pod } from "../../pkg/kube/core.ts";
import { isAlreadyExists, isConflict, isForbidden, isNotFound } from "../../pkg/kube/errors.ts";
import { canonicalJSON } from "../../pkg/kube/object.ts";
import {
  API_VERSION,
  type IPAddress,
  IPAddresses,
  ipClaimName,
  POD_UID_LABEL,
  SUBNET_LABEL,
  type Subnet,
} from "./api.ts";
import { tenantLabelOf } from "./endpoint-desired.ts";
import { CLAIM_POD_INDEX, CLAIM_SUBNET_INDEX } from "./informers.ts";
import { IPPool } from "./ipam.ts";

/** The claim object for one interface of a pod (pure). */
export function desiredClaim(pod: Pod, subnet: string, ip: string, epName: string): IPAddress {
  const uid = pod.metadata.uid ?? "";
  return {
    apiVersion: API_VERSION,
    kind: "VPCAddress",
    metadata: {
      name: ipClaimName(subnet, ip),
      labels: { [SUBNET_LABEL]: subnet, [POD_UID_LABEL]: uid, ...tenantLabelOf(pod) },
    },
    spec: {
      subnet,
      ip,
      endpoint: {
        namespace: pod.metadata.namespace ?? "",
        name: epName,
        pod: pod.metadata.name ?? "",
        podUID: uid,
      },
    },
  };
}

/** One IPPool per subnet, built from the cached claims and kept in step with them. */
/** A claim the tenant's address quota refused: waits for addresses to free, says why. */
export class AddressQuotaError extends Error {}

export class SubnetPools {
  private readonly pools = new Map<string, { signature: string; pool: IPPool }>();

  constructor(private readonly claims: Informer<IPAddress>) {}

  poolFor(subnet: Subnet): IPPool {
    const name = subnet.metadata.name ?? "";
    const signature = canonicalJSON([subnet.spec.cidr, subnet.spec.gateway, subnet.spec.excludeIPs]);
    const hit = this.pools.get(name);
    if (hit && hit.signature === signature) return hit.pool;
    const pool = IPPool.from(
      { cidr: subnet.spec.cidr, gateway: subnet.spec.gateway, excludeIPs: subnet.spec.excludeIPs },
      this.claims.store.byIndex(CLAIM_SUBNET_INDEX, name).map((c) => c.spec.ip),
    );
    this.pools.set(name, { signature, pool });
    return pool;
  }

  /** A claim was added or deleted: the cache (already updated) says which. */
  observe(c: IPAddress): void {
    const pool = this.pools.get(c.spec.subnet)?.pool;
    if (!pool) return;
    if (this.claims.store.get(c.metadata.name ?? "")?.metadata.uid === c.metadata.uid)
      pool.markUsed(c.spec.ip);
    else pool.release(c.spec.ip);
  }

  forget(subnet: string): void {
    this.pools.delete(subnet);
  }
}

/** Claims a pod's interfaces at the API server; remembers its own creations until the cache has them. */
export class Claims {
  /** Claims this process created that the cache may not show yet: podUID/iface → claim. */
  private readonly recent = new Map<string, IPAddress>();

  constructor(
    private readonly client: KubeClient,
    private readonly claims: Informer<IPAddress>,
    private readonly pools: SubnetPools,
  ) {}

  ofPod(namespace: string, pod: string): IPAddress[] {
    return this.claims.store.byIndex(CLAIM_POD_INDEX, `${namespace}/${pod}`);
  }

  /** The claim of one interface: the existing one, or a new address claimed at the API server. */
  async claimFor(pod: Pod, subnet: Subnet, epName: string): Promise<IPAddress | undefined> {
    const uid = pod.metadata.uid ?? "";
    const subnetName = subnet.metadata.name ?? "";
    const existing =
      this.ofPod(pod.metadata.namespace ?? "", pod.metadata.name ?? "").find(
        (c) =>
          c.spec.endpoint.podUID === uid && c.spec.endpoint.name === epName && c.spec.subnet === subnetName,
      ) ?? this.recent.get(`${uid}/${epName}`);
    if (existing && existing.spec.subnet === subnetName) return existing;
    const pool = this.pools.poolFor(subnet);
    const lost = new Set<string>();
    for (let attempt = 0; attempt < 256; attempt++) {
      const ip = pool.next(lost);
      if (ip === undefined) return undefined;
      try {
        const created = await this.client.create<IPAddress>(
          IPAddresses,
          desiredClaim(pod, subnetName, ip, epName),
        );
        pool.markUsed(ip);
        this.recent.set(`${uid}/${epName}`, created);
        return created;
      } catch (err) {
        // The tenant's quota on ip-addresses (its ledger's admission webhook) refused it.
        if (isForbidden(err) && /exceeded quota/.test((err as Error).message)) {
          throw new AddressQuotaError((err as Error).message);
        }
        if (!isAlreadyExists(err)) throw err;
        // Someone holds it (a claim our cache has not seen yet): take the next candidate.
        lost.add(ip);
      }
    }
    throw new Error(`subnet ${subnetName}: no free address after 256 lost races`);
  }

  async delete(c: IPAddress): Promise<void> {
    try {
      await this.client.delete(IPAddresses, c.metadata.name ?? "", undefined, {
        preconditionUid: c.metadata.uid,
      });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
    this.recent.delete(`${c.spec.endpoint.podUID}/${c.spec.endpoint.name}`);
  }

  /** Forgets own creations for other incarnations (uids) of a pod. */
  forgetPod(namespace: string, pod: string, keepUID: string | undefined): void {
    for (const [k, c] of this.recent) {
      const e = c.spec.endpoint;
      if (e.namespace === namespace && e.pod === pod && e.podUID !== keepUID) this.recent.delete(k);
    }
  }
}
