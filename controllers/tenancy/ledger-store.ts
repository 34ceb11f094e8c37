// Reads and writes TenantLedger objects: one change at a time per tenant in this process (so
// admissions of one tenant queue here instead of racing into conflicts), each write guarded
// by the ledger's resourceVersion (so other replicas can write too and none is lost), and the
// last ledger this process wrote kept (so an admission costs one write, not a read and a write).

import type { KubeClient } from "../../pkg/kube/client.ts";
import { isAlreadyExists, isConflict, isNotFound } from "../../pkg/kube/errors.ts";
import { TenantLedgerResource } from "./api.ts";
import type { TenantLedger } from "./ledger.ts";

/** A change to a ledger: the new ledger, or undefined to leave it as it is. */
export type LedgerChange = (ledger: TenantLedger) => TenantLedger | undefined;

const ATTEMPTS = 20;

export class LedgerStore {
  private readonly known = new Map<string, TenantLedger>();
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(private readonly client: KubeClient) {}

  /** Runs `fn` after every earlier call for the same tenant has finished. */
  private serially<R>(tenant: string, fn: () => Promise<R>): Promise<R> {
    const run = (this.tails.get(tenant) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    this.tails.set(tenant, tail);
    void tail.then(() => {
      if (this.tails.get(tenant) === tail) this.tails.delete(tenant);
    });
    return run;
  }

  private async fetch(tenant: string): Promise<TenantLedger | undefined> {
    try {
      const l = await this.client.get<TenantLedger>(TenantLedgerResource, tenant);
      this.known.set(tenant, l);
      return l;
    } catch (err) {
      if (isNotFound(err)) {
        this.known.delete(tenant);
        return undefined;
      }
      throw err;
    }
  }

  /** The tenant's ledger as the API server has it now (undefined: none yet). */
  read(tenant: string): Promise<TenantLedger | undefined> {
    return this.serially(tenant, () => this.fetch(tenant));
  }

  /**
   * Applies `fn` to the current ledger and writes the result, retrying on a conflict with a
   * fresh read; `fn` may run several times and must decide from its argument alone. Resolves to
   * the ledger as written (or unchanged); undefined when the tenant has no ledger.
   */
  update(tenant: string, fn: LedgerChange): Promise<TenantLedger | undefined> {
    return this.serially(tenant, async () => {
      let current = this.known.get(tenant) ?? (await this.fetch(tenant));
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        if (!current) return undefined;
        const next = fn(structuredClone(current));
        if (!next) return current;
        try {
          const written = await this.client.replace<TenantLedger>(TenantLedgerResource, next);
          this.known.set(tenant, written);
          return written;
        } catch (err) {
          if (!isConflict(err)) throw err;
          current = await this.fetch(tenant);
        }
      }
      throw new Error(`the ledger of tenant ${tenant} kept changing under ${ATTEMPTS} writes; retry`);
    });
  }

  /** Creates the ledger (or reads the one another replica created first). */
  create(ledger: TenantLedger): Promise<TenantLedger | undefined> {
    const tenant = ledger.metadata.name ?? "";
    return this.serially(tenant, async () => {
      try {
        const written = await this.client.create<TenantLedger>(TenantLedgerResource, ledger);
        this.known.set(tenant, written);
        return written;
      } catch (err) {
        if (isAlreadyExists(err)) return await this.fetch(tenant);
        throw err;
      }
    });
  }

  /** Forgets what this process last wrote (the next change reads first). */
  forget(tenant: string): void {
    this.known.delete(tenant);
  }
}
