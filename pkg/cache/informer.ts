// A list+watch informer that keeps an indexed store in step with the API server.
//
// Why our own: @kubernetes/client-node's informer stops on any non-410 error, asks for no
// bookmarks and has no indexes, no idle detection and no backoff reset. This one:
// - lists, then watches with bookmarks and a server timeout jittered between 5 and 10 min;
// - on 410 Gone relists at once; on any other failure re-watches from the last
//   resourceVersion after a backoff (800 ms → 30 s, reset after 2 min of health);
// - restarts a watch that has been silent (no event, no bookmark) for idleTimeoutMs: quietly
//   when the API server answers (a resource nobody changes is no fault), with a warning that
//   says what to check when it does not;
// - compares resourceVersions for equality only: they are opaque strings.

import type { KubeClient } from "../kube/client.ts";
import { isGone } from "../kube/errors.ts";
import { type KubeObject, objectKey } from "../kube/object.ts";
import { type ResourceType, resourceId } from "../kube/resource.ts";
import { type Logger, rootLogger } from "../log.ts";
import { Backoff, type BackoffOptions, DEFAULT_WATCH_BACKOFF } from "./backoff.ts";
import { type IndexFunc, Store } from "./store.ts";

export interface EventHandler<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions<T extends KubeObject> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Shrinks objects before they are cached (keep only what controllers read). The default
   * drops metadata.managedFields, which is often half an object's size and never read.
   */
  transform?: (obj: T) => T;
  indexers?: Record<string, IndexFunc<T>>;
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. */
  idleTimeoutMs?: number;
  /** Server-side watch timeout, drawn uniformly from this range (seconds). */
  watchTimeoutSeconds?: [number, number];
  backoff?: BackoffOptions;
  /** Page size of the initial list and relists. */
  pageSize?: number;
  logger?: Logger;
}

export interface InformerStats {
  lists: number;
  watches: number;
  /** Watches ended by 410 Gone (each followed by a relist). */
  expired: number;
  /** Watches restarted by the idle watchdog. */
  idleRestarts: number;
  errors: number;
}

class IdleWatchError extends Error {}

export function stripManagedFields<T extends KubeObject>(obj: T): T {
  if (obj.metadata.managedFields) delete obj.metadata.managedFields;
  return obj;
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly resource: ResourceType<T>;
  readonly store: Store<T>;
  readonly stats: InformerStats = { lists: 0, watches: 0, expired: 0, idleRestarts: 0, errors: 0 };
  private readonly handlers: EventHandler<T>[] = [];
  private readonly opts: InformerOptions<T>;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private lastResourceVersion: string | undefined;
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private running = false;

  /** Started and not stopped: options and indexes are fixed from here on. */
  get started(): boolean {
    return this.running;
  }
  private stopper = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    resource: ResourceType<T>,
    opts: InformerOptions<T> = {},
  ) {
    this.resource = resource;
    this.opts = opts;
    this.store = new Store<T>(opts.indexers ?? {});
    this.backoff = new Backoff(opts.backoff ?? DEFAULT_WATCH_BACKOFF);
    this.log = (opts.logger ?? rootLogger).child({ informer: resourceId(resource) });
  }

  /**
   * Adds a handler. One added after the informer has synced is first told about every cached
   * object as an add, so late subscribers see the same world as early ones.
   */
  addEventHandler(handler: EventHandler<T>): void {
    this.handlers.push(handler);
    if (this.synced) for (const obj of this.store.list()) handler.onAdd?.(obj);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** The resourceVersion of the last list, event or bookmark seen. */
  lastSyncResourceVersion(): string | undefined {
    return this.lastResourceVersion;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  start(): void {
    this.store.seal();
    if (this.running) return;
    this.running = true;
    this.stopper = new AbortController();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopper.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    let needList = true;
    while (this.running) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        await this.watchOnce();
      } catch (err) {
        if (!this.running) break;
        if (isGone(err)) {
          this.stats.expired++;
          this.log.info({ rv: this.lastResourceVersion }, "watch expired (410 Gone): relisting");
          needList = true;
          continue;
        }
        if (err instanceof IdleWatchError) {
          this.stats.idleRestarts++;
          await this.reportQuiet();
          continue;
        }
        this.stats.errors++;
        const delay = this.backoff.next();
        this.log.warn(
          { err: String(err), retryInMs: Math.round(delay) },
          "list/watch failed: retrying; if it keeps failing, check that the API server runs and is reachable, and that this operator may list and watch the resource (RBAC)",
        );
        await this.sleep(delay);
      }
    }
  }

  /**
   * After a quiet spell: a watch whose server still answers is healthy (nothing changed), and
   * its restart (a fresh connection, in case this one died unseen) is logged at debug only.
   */
  private async reportQuiet(): Promise<void> {
    const signal = AbortSignal.any([this.stopper.signal, AbortSignal.timeout(10_000)]);
    const answers = await this.client.request("GET", "/readyz", { signal }).then(
      () => true,
      () => false,
    );
    if (answers || !this.running) {
      this.log.debug(
        { idleTimeoutMs: this.idleTimeoutMs },
        "watch quiet, the API server answers: renewing it",
      );
      return;
    }
    this.log.warn(
      { idleTimeoutMs: this.idleTimeoutMs, server: this.client.server.toString() },
      "watch silent and the API server does not answer /readyz: check that it runs and that this host reaches it; retrying",
    );
  }

  private get idleTimeoutMs(): number {
    return this.opts.idleTimeoutMs ?? 150_000;
  }

  private transform(obj: T): T {
    return (this.opts.transform ?? stripManagedFields)(obj);
  }

  private async relist(): Promise<void> {
    this.stats.lists++;
    const list = await this.client.list<T>(this.resource, {
      namespace: this.opts.namespace,
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
      limit: this.opts.pageSize ?? 500,
      signal: this.stopper.signal,
    });
    const diff = this.store.replace(list.items.map((o) => this.transform(o)));
    this.lastResourceVersion = list.metadata.resourceVersion;
    for (const obj of diff.added) this.emit((h) => h.onAdd?.(obj));
    for (const u of diff.updated) this.emit((h) => h.onUpdate?.(u.old, u.new));
    for (const obj of diff.deleted) this.emit((h) => h.onDelete?.(obj));
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters) w();
      this.syncWaiters = [];
    }
  }

  private async watchOnce(): Promise<void> {
    const [lo, hi] = this.opts.watchTimeoutSeconds ?? [300, 600];
    const timeoutSeconds = Math.floor(lo + Math.random() * (hi - lo));
    const abort = new AbortController();
    const onStop = () => abort.abort();
    this.stopper.signal.addEventListener("abort", onStop);
    let idle = false;
    let watchdog: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        idle = true;
        abort.abort();
      }, this.idleTimeoutMs);
      watchdog.unref();
    };
    this.stats.watches++;
    const healthySince = Date.now();
    try {
      arm();
      const events = this.client.watch<T>(this.resource, {
        namespace: this.opts.namespace,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        resourceVersion: this.lastResourceVersion,
        timeoutSeconds,
        allowWatchBookmarks: true,
        signal: abort.signal,
      });
      for await (const event of events) {
        arm();
        const rv = event.object.metadata?.resourceVersion;
        if (event.type === "BOOKMARK") {
          if (rv) this.lastResourceVersion = rv;
          continue;
        }
        const obj = this.transform(event.object);
        const key = objectKey(obj);
        if (event.type === "DELETED") {
          const old = this.store.remove(key);
          this.emit((h) => h.onDelete?.(old ?? obj));
        } else {
          const old = this.store.upsert(obj);
          if (old) this.emit((h) => h.onUpdate?.(old, obj));
          else this.emit((h) => h.onAdd?.(obj));
        }
        if (rv) this.lastResourceVersion = rv;
      }
    } catch (err) {
      if (idle) throw new IdleWatchError();
      throw err;
    } finally {
      clearTimeout(watchdog);
      this.stopper.signal.removeEventListener("abort", onStop);
      abort.abort();
    }
    if (idle) throw new IdleWatchError();
    // A stream the server closed on its timeout is the normal end of a healthy watch.
    if (Date.now() - healthySince < 1000 && this.running) {
      // Guard against a tight loop when a server closes streams at once.
      await this.sleep(this.backoff.next());
    }
  }

  private emit(call: (h: EventHandler<T>) => void): void {
    for (const h of this.handlers) {
      try {
        call(h);
      } catch (err) {
        this.log.error({ err: String(err) }, "event handler threw");
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const signal = this.stopper.signal;
      function done() {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done);
    });
  }
}
