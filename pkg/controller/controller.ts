// A controller: watches a primary resource (For), the resources it creates (Owns) and any
// others that matter (Watches: a mapper and a predicate each, see watch.ts), turns every
// change into the key of the primary object, and runs reconcile(key) with N workers over a
// de-duplicating, rate-limited work queue that only the controller itself touches. Failures
// go through an error policy (error-policy.ts): transient ones back off, terminal ones are
// reported once and not retried.
//
// Level-triggered: reconcile is told which object to look at, never what changed, so it must
// read the current state and converge on it; any missed event is healed by the next one.

import { randomUUID } from "node:crypto";
import type { Registry } from "prom-client";
import type { SharedInformerFactory } from "../cache/factory.ts";
import type { Informer, InformerOptions } from "../cache/informer.ts";
import { type KubeObject, objectKey, splitKey } from "../kube/object.ts";
import type { ResourceType } from "../kube/resource.ts";
import { type Logger, rootLogger } from "../log.ts";
import { type ControllerMetrics, controllerMetrics } from "../metrics/registry.ts";
import { defaultControllerRateLimiter, type RateLimiter } from "../queue/rate-limiter.ts";
import { promWorkQueueMetrics, WorkQueue } from "../queue/work-queue.ts";
import { defaultClassify, type ErrorPolicy, isRoutineRetry, TerminalError } from "./error-policy.ts";
import { ownerKey } from "./mappers.ts";
import type { ReconcileContext, ReconcileFunc, Request } from "./reconciler.ts";
import type { Mapper, Predicate, Watch } from "./watch.ts";

export { TerminalError } from "./error-policy.ts";
export { ownerKey } from "./mappers.ts";
export type { ReconcileContext, ReconcileFunc, Request, Result } from "./reconciler.ts";

export interface ControllerOptions {
  name: string;
  for: ResourceType;
  forInformer?: InformerOptions<KubeObject>;
  forPredicate?: Predicate;
  /** Kinds this controller creates with a controller owner reference to the primary. */
  owns?: Array<{ resource: ResourceType; informer?: InformerOptions<KubeObject>; predicate?: Predicate }>;
  watches?: Watch[];
  reconcile: ReconcileFunc;
  errorPolicy?: ErrorPolicy;
  /** Parallel workers (a key is never reconciled by two at once). */
  concurrency?: number;
  rateLimiter?: RateLimiter<string>;
  logger?: Logger;
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

  private get queue(): WorkQueue<string> {
    return this.workQueue;
  }

  /**
   * Puts a key on the queue, for sources that have no informer (a child cluster's watch, a
   * timer in a Runnable). Reconcilers never call this on themselves: they return
   * `{ requeueAfterMs }`, and changes reach them through declared watches.
   */
  enqueue(key: string, delayMs = 0): void {
    if (delayMs > 0) this.queue.addAfter(key, delayMs);
    else this.queue.add(key);
  }

  /** Nothing queued, delayed or in progress (benchmarks wait for this). */
  idle(): boolean {
    const q = this.queue;
    return q.len() === 0 && q.lenProcessing() === 0 && q.lenDelayed() === 0;
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
    const primary = this.opts.for;
    this.wire(
      factory.informerFor(primary, this.opts.forInformer),
      (o) => [objectKey(o)],
      this.opts.forPredicate,
    );
    for (const owned of this.opts.owns ?? []) {
      this.wire(
        factory.informerFor(owned.resource, owned.informer),
        (o) => [ownerKey(o, primary)],
        owned.predicate,
      );
    }
    for (const w of this.opts.watches ?? []) {
      this.wire(factory.informerFor(w.resource, w.informer), w.map, w.predicate, w.delayMs);
    }
  }

  /** Every change the predicate lets through enqueues the keys the mapper gives; an update maps
   * both the old and the new object, so a change of owner or label wakes both sides. */
  private wire(informer: Informer<KubeObject>, map: Mapper, predicate?: Predicate, delayMs = 0): void {
    const enqueue = (o: KubeObject) => {
      for (const k of map(o)) if (k) this.enqueue(k, delayMs);
    };
    informer.addEventHandler({
      onAdd: (o) => {
        if (predicate?.create?.(o) ?? true) enqueue(o);
      },
      onUpdate: (old, o) => {
        if (!(predicate?.update?.(old, o) ?? true)) return;
        enqueue(old);
        enqueue(o);
      },
      onDelete: (o) => {
        if (predicate?.delete?.(o) ?? true) enqueue(o);
      },
    });
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
    const req: Request = { key, ...splitKey(key) };
    const ctx: ReconcileContext = { log, reconcileId, cache: this.factory as SharedInformerFactory };
    try {
      const result = await this.opts.reconcile(req, ctx);
      if (result?.requeueAfterMs !== undefined) {
        this.queue.forget(key);
        this.queue.addAfter(key, result.requeueAfterMs);
        this.metrics?.reconcileTotal.inc({ ...labels, result: "requeue_after" });
      } else {
        this.queue.forget(key);
        this.metrics?.reconcileTotal.inc({ ...labels, result: "success" });
      }
    } catch (err) {
      await this.handleError(err, req, ctx);
    } finally {
      this.metrics?.reconcileTime.observe(labels, (performance.now() - start) / 1000);
      this.active--;
      this.metrics?.activeWorkers.set(labels, this.active);
    }
  }

  private async handleError(err: unknown, req: Request, ctx: ReconcileContext): Promise<void> {
    const labels = { controller: this.name };
    const { key } = req;
    this.metrics?.reconcileTotal.inc({ ...labels, result: "error" });
    this.metrics?.reconcileErrors.inc(labels);
    if (!(err instanceof Error)) this.metrics?.panics.inc(labels);
    const action = (this.opts.errorPolicy?.classify ?? defaultClassify)(err);
    const message = err instanceof Error ? err.message : String(err);
    if (action.retry === "never") {
      // Retrying cannot help: show it to the user once, then wait for a change of the object.
      this.metrics?.terminalErrors.inc(labels);
      this.queue.forget(key);
      const report = this.opts.errorPolicy?.report;
      if (report) {
        await report(req, err instanceof Error ? err : new TerminalError(message), ctx).catch((e) =>
          ctx.log.warn(
            { err: e instanceof Error ? e.message : String(e) },
            "could not report a terminal error",
          ),
        );
      }
      ctx.log.warn(
        { err: message },
        "reconcile failed for good (terminal error): not retrying; fix what the error names (the object's status says it too) and it is reconciled again",
      );
    } else if (action.retry === "after") {
      this.queue.forget(key);
      this.queue.addAfter(key, action.ms);
      ctx.log.warn(
        { err: message, retryAfterMs: action.ms },
        "reconcile failed: retrying after a delay; if it keeps failing, fix what the error names",
      );
    } else {
      this.queue.addRateLimited(key);
      const retries = this.queue.numRequeues(key);
      if (isRoutineRetry(err, retries)) {
        ctx.log.debug({ err: message, retries }, "lost a race with another write: retrying");
      } else {
        ctx.log.warn(
          { err: message, retries },
          "reconcile failed: retrying with backoff; if it keeps failing, fix what the error names (kubectl describe the object shows its events)",
        );
      }
    }
  }
}
