// Reads and writes TenantLedger objects. Changes to one tenant's ledger are applied in order
// and written together: while one write is in flight, the changes that arrive wait, then all
// of them go in the next write (group commit), so a burst of admissions costs a few writes,
// not one each. Every write is guarded by the ledger's resourceVersion (other replicas may
// write too; none is lost), and the last ledger this process wrote is kept (an admission
// costs a write, not a read and a write).

import type { KubeClient } from "../../pkg/kube/client.ts";
import { isAlreadyExists, isConflict, isNotFound } from "../../pkg/kube/errors.ts";
import { TenantLedgerResource } from "./api.ts";
import type { TenantLedger } from "./ledger.ts";

/** A change to a ledger: a new ledger (never the argument modified), or undefined to leave it as it is. */
export type LedgerChange = (ledger: TenantLedger) => TenantLedger | undefined;

const ATTEMPTS = 20;

interface Pending {
  fn: LedgerChange;
  resolve: (ledger: TenantLedger | undefined) => void;
  reject: (err: unknown) => void;
}

export class LedgerStore {
  private readonly known = new Map<string, TenantLedger>();
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly queued = new Map<string, Pending[]>();
  private readonly writing = new Set<string>();

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
   * fresh read; `fn` may run several times and must decide from its argument alone (an error
   * it throws is this call's, and leaves the ledger as it was for the others). Resolves once the
   * change is written, to the ledger as written (or unchanged); undefined when the tenant has
   * no ledger.
   */
  update(tenant: string, fn: LedgerChange): Promise<TenantLedger | undefined> {
    return new Promise((resolve, reject) => {
      const queue = this.queued.get(tenant) ?? [];
      queue.push({ fn, resolve, reject });
      this.queued.set(tenant, queue);
      void this.drain(tenant);
    });
  }

  /** One writer per tenant: takes everything queued, writes it in one go, repeats. */
  private async drain(tenant: string): Promise<void> {
    if (this.writing.has(tenant)) return;
    this.writing.add(tenant);
    try {
      for (;;) {
        const batch = this.queued.get(tenant) ?? [];
        this.queued.delete(tenant);
        if (batch.length === 0) return;
        await this.serially(tenant, () => this.commit(tenant, batch)).catch((err) => {
          for (const p of batch) p.reject(err);
        });
      }
    } finally {
      this.writing.delete(tenant);
    }
  }

  private async commit(tenant: string, batch: Pending[]): Promise<void> {
    let current = this.known.get(tenant) ?? (await this.fetch(tenant));
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (!current) {
        for (const p of batch) p.resolve(undefined);
        return;
      }
      // Each change sees the ones before it in the batch; a change that throws is left out.
      // Changes return a new ledger and never modify their argument (so no copies are needed).
      let next = current;
      const failed = new Map<Pending, unknown>();
      for (const p of batch) {
        try {
          next = p.fn(next) ?? next;
        } catch (err) {
          failed.set(p, err);
        }
      }
      const settle = (ledger: TenantLedger) => {
        for (const p of batch) {
          if (failed.has(p)) p.reject(failed.get(p));
          else p.resolve(ledger);
        }
      };
      if (next === current) {
        settle(current);
        return;
      }
      try {
        const written = await this.client.replace<TenantLedger>(TenantLedgerResource, next);
        this.known.set(tenant, written);
        settle(written);
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
        // Decided on a stale ledger: decide all of them again (a refusal too) on a fresh one.
        current = await this.fetch(tenant);
      }
    }
    throw new Error(`the ledger of tenant ${tenant} kept changing under ${ATTEMPTS} writes; retry`);
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
