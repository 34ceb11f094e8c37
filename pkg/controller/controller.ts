// A controller: watches a primary resource (For), the resources it creates (Owns) and any
// others that matter (Watches), turns every change into the key of the primary object, and
// runs reconcile(key) with N workers over a de-duplicating, rate-limited work queue.
//
// Level-triggered: reconcile is told which object to look at, never what changed, so it must
// read the current state and converge on it; any missed event is healed by the next one.

import { randomUUID } from "node:crypto";
import type { Registry } from "prom-client";
import type { SharedInformerFactory } from "../cache/factory.ts";
import type { Informer, InformerOptions } from "../cache/informer.ts";
import { controllerOf, type KubeObject, objectKey, splitKey } from "../kube/object.ts";
import { apiVersionOf, type ResourceType } from "../kube/resource.ts";
import { type Logger, rootLogger } from "../log.ts";
import { type ControllerMetrics, controllerMetrics } from "../metrics/registry.ts";
import { defaultControllerRateLimiter, type RateLimiter } from "../queue/rate-limiter.ts";
import { promWorkQueueMetrics, WorkQueue } from "../queue/work-queue.ts";

export interface Request {
  /** "namespace/name" or "name" */
  key: string;
  namespace?: string;
  name: string;
}

/** What reconcile asks for next: nothing (done), or another look after a delay. */
export interface Result {
  requeueAfterMs?: number;
}

/** An error that retrying cannot fix (bad input): reported, not retried. */
export class TerminalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TerminalError";
  }
}

export interface ReconcileContext {
  log: Logger;
  reconcileId: string;
  /** The manager's shared informers: read objects from their stores, not from the API server. */
  cache: SharedInformerFactory;
}

// biome-ignore lint/suspicious/noConfusingVoidType: a reconciler that is simply done returns nothing
export type ReconcileFunc = (req: Request, ctx: ReconcileContext) => Promise<Result | void>;

/** Maps a watched object to the keys of the primary objects it affects. */
export type MapFunc = (obj: KubeObject) => string[];

export interface WatchSpec {
  resource: ResourceType;
  map: MapFunc;
  informer?: InformerOptions<KubeObject>;
}

export interface ControllerOptions {
  name: string;
  for: ResourceType;
  forInformer?: InformerOptions<KubeObject>;
  /** Kinds this controller creates with a controller owner reference to the primary. */
  owns?: Array<{ resource: ResourceType; informer?: InformerOptions<KubeObject> }>;
  watches?: WatchSpec[];
  reconcile: ReconcileFunc;
  /** Parallel workers (a key is never reconciled by two at once). */
  concurrency?: number;
  rateLimiter?: RateLimiter<string>;
  logger?: Logger;
}

/** The key of the primary object an owned object belongs to, if the owner is of kind `owner`. */
export function ownerKey(obj: KubeObject, owner: ResourceType): string | undefined {
  const ref = controllerOf(obj);
  if (!ref || ref.kind !== owner.kind || ref.apiVersion.split("/")[0] !== apiVersionOf(owner).split("/")[0]) {
    return undefined;
  }
  return owner.namespaced ? `${obj.metadata.namespace ?? ""}/${ref.name}` : ref.name;
}

export class Controller {
  readonly name: string;
  private workQueue: WorkQueue<string>;
  private readonly opts: ControllerOptions;
  private readonly log: Logger;
  private metrics: ControllerMetrics | undefined;
  private workers: Promise<void>[] = [];
  private factory: SharedInformerFactory | undefined;
  private active = 0;

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.log = (opts.logger ?? rootLogger).child({ controller: opts.name });
    this.workQueue = this.newQueue();
  }

  private newQueue(registry?: Registry): WorkQueue<string> {
    return new WorkQueue<string>({
      name: this.opts.name,
      rateLimiter: this.opts.rateLimiter ?? defaultControllerRateLimiter(),
      metrics: registry ? promWorkQueueMetrics(registry, this.name, this.name) : undefined,
    });
  }

  get queue(): WorkQueue<string> {
    return this.workQueue;
  }

  /** Wires informers to the queue; called by the manager before caches start. */
  setup(factory: SharedInformerFactory, registry?: Registry): void {
    this.factory = factory;
    if (registry) {
      this.metrics = controllerMetrics(registry);
      this.metrics.maxConcurrent.set({ controller: this.name }, this.concurrency);
      this.metrics.activeWorkers.set({ controller: this.name }, 0);
      for (const result of ["success", "error", "requeue", "requeue_after"]) {
        this.metrics.reconcileTotal.inc({ controller: this.name, result }, 0);
      }
      this.metrics.reconcileErrors.inc({ controller: this.name }, 0);
      // Nothing has been queued yet: swap in a queue that reports to the registry.
      this.workQueue = this.newQueue(registry);
    }
    // Every change to a watched object enqueues the primary keys it maps to; an update maps
    // both the old and the new object, so a change of owner or label wakes both sides.
    const enqueueMapped = (
      informer: Informer<KubeObject>,
      map: (o: KubeObject) => Array<string | undefined>,
    ) => {
      const enqueue = (o: KubeObject) => {
        for (const k of map(o)) if (k) this.queue.add(k);
      };
      informer.addEventHandler({
        onAdd: enqueue,
        onUpdate: (old, o) => {
          enqueue(old);
          enqueue(o);
        },
        onDelete: enqueue,
      });
    };
    enqueueMapped(factory.informerFor(this.opts.for, this.opts.forInformer), (o) => [objectKey(o)]);
    for (const owned of this.opts.owns ?? []) {
      enqueueMapped(factory.informerFor(owned.resource, owned.informer), (o) => [ownerKey(o, this.opts.for)]);
    }
    for (const w of this.opts.watches ?? [])
      enqueueMapped(factory.informerFor(w.resource, w.informer), w.map);
  }

  get concurrency(): number {
    return this.opts.concurrency ?? 4;
  }

  /** Starts the workers; they run until stop(). */
  start(): void {
    if (!this.factory) throw new Error(`controller ${this.name}: call setup() (Manager.add) before start()`);
    if (this.workers.length > 0) return;
    for (let i = 0; i < this.concurrency; i++) this.workers.push(this.worker());
  }

  /** Stops taking work and waits (up to drainMs) for in-flight reconciles to finish. */
  async stop(drainMs = 30_000): Promise<void> {
    await this.queue.shutDownWithDrain(drainMs);
    this.queue.shutdown();
    await Promise.all(this.workers);
    this.workers = [];
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.process(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: string): Promise<void> {
    const reconcileId = randomUUID();
    const log = this.log.child({ key, reconcileID: reconcileId });
    const labels = { controller: this.name };
    this.active++;
    this.metrics?.activeWorkers.set(labels, this.active);
    const start = performance.now();
    try {
      const { namespace, name } = splitKey(key);
      const result = await this.opts.reconcile(
        { key, namespace, name },
        {
          log,
          reconcileId,
          cache: this.factory as SharedInformerFactory,
        },
      );
      if (result?.requeueAfterMs !== undefined) {
        this.queue.forget(key);
        this.queue.addAfter(key, result.requeueAfterMs);
        this.metrics?.reconcileTotal.inc({ ...labels, result: "requeue_after" });
      } else {
        this.queue.forget(key);
        this.metrics?.reconcileTotal.inc({ ...labels, result: "success" });
      }
    } catch (err) {
      this.metrics?.reconcileTotal.inc({ ...labels, result: "error" });
      this.metrics?.reconcileErrors.inc(labels);
      if (err instanceof TerminalError) {
        // Retrying cannot help: the reconciler has reported it (status or event); wait for a change.
        this.metrics?.terminalErrors.inc(labels);
        this.queue.forget(key);
        log.warn({ err: err.message }, "reconcile failed for good (terminal error): not retrying");
      } else {
        if (!(err instanceof Error)) this.metrics?.panics.inc(labels);
        this.queue.addRateLimited(key);
        log.warn(
          { err: err instanceof Error ? err.message : String(err), retries: this.queue.numRequeues(key) },
          "reconcile failed: retrying with backoff",
        );
      }
    } finally {
      this.metrics?.reconcileTime.observe(labels, (performance.now() - start) / 1000);
      this.active--;
      this.metrics?.activeWorkers.set(labels, this.active);
    }
  }
}
