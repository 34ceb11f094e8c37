/**
 * A controller work queue with the semantics of client-go's `workqueue` (no code copied).
 *
 * Why our own: @kubernetes/client-node ships informers but no work queue, and generic
 * promise queues (p-queue and friends) run *tasks*; they neither de-duplicate keys, nor
 * guarantee that one key is never handled by two workers at once, nor back off per key.
 * (Where bounded concurrency of promises is all that is wanted, as for the GPU binder's
 * background bindings, p-queue is used.) These properties are what make level-triggered
 * reconcilers correct and cheap:
 *
 *  - De-duplication: a key waiting in the queue is stored once however often it is added,
 *    so a burst of watch events for one object costs one reconcile.
 *  - Per-key exclusivity: a key being processed is not handed to another worker. If it is
 *    added meanwhile it is remembered ("dirty") and queued again when `done()` is called,
 *    so the newest state is always reconciled, but never concurrently with itself.
 *
 * Keys flow: add() -> dirty + queue -> get() -> processing -> done() -> (dirty? queue again).
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { defaultControllerRateLimiter, type RateLimiter } from "./rate-limiter.ts";

/**
 * Observability hooks. Every method is optional so callers can implement just what they
 * need; the queue calls them synchronously, so they must be cheap and must not throw.
 */
export interface WorkQueueMetrics {
  /** A new key entered the queue (adds that were de-duplicated are not counted). */
  add?(): void;
  /** The number of keys waiting in the queue (not counting keys being processed). */
  depth?(n: number): void;
  /** How long a key waited between being added and being handed to a worker. */
  queueLatency?(seconds: number): void;
  /** How long a worker held a key, from get() to done(). */
  workDuration?(seconds: number): void;
  /** A rate-limited re-add (addRateLimited) happened. */
  retry?(): void;
  /** Sum of the time all in-flight keys have been processing so far; reported periodically. */
  unfinishedWork?(seconds: number): void;
  /** Time the oldest in-flight key has been processing; reported periodically. */
  longestRunning?(seconds: number): void;
}

export interface WorkQueueOptions<K> {
  /** Used by addRateLimited/forget/numRequeues. Defaults to defaultControllerRateLimiter(). */
  rateLimiter?: RateLimiter<K>;
  metrics?: WorkQueueMetrics;
  /** For logs and metric labels; informational only. */
  name?: string;
}

/** Node clamps larger setTimeout delays to 1 ms, so longer waits are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How often unfinishedWork/longestRunning are pushed to the metrics while work is in flight. */
const UNFINISHED_WORK_REPORT_MS = 500;

const nowMs = (): number => performance.now();

/** A FIFO with O(1) amortised shift (Array#shift is O(n) on long arrays). */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined; // let the key be collected
    this.head++;
    // Compact once the consumed prefix dominates, keeping memory proportional to the length.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

interface DelayedAdd {
  readyAt: number;
  timer: NodeJS.Timeout;
}

export class WorkQueue<K extends string = string> {
  readonly name: string;
  private readonly rateLimiter: RateLimiter<K>;
  private readonly metrics: WorkQueueMetrics;

  /** Keys ready to be handed out, in FIFO order. Invariant: every queued key is also dirty. */
  private readonly queue = new Fifo<K>();
  /** Keys that need processing: queued, or processing and added again since get(). */
  private readonly dirty = new Set<K>();
  /** Keys currently held by a worker, with the time they were handed out. */
  private readonly processing = new Map<K, number>();
  /** When each dirty key was added, for the queue latency metric. */
  private readonly addedAt = new Map<K, number>();
  /** Pending get() calls. Invariant: non-empty only while the queue is empty. */
  private readonly waiters: ((key: K | undefined) => void)[] = [];
  /** addAfter() keys not yet due, with the earliest requested deadline. */
  private readonly delayed = new Map<K, DelayedAdd>();
  /** Callers of shutDownWithDrain() waiting for the queue to become idle. */
  private readonly drainWaiters: (() => void)[] = [];

  /** Set by shutdown() and shutDownWithDrain(): no more adds are accepted. */
  private shuttingDown = false;
  /** Set by shutdown() (or a finished/timed-out drain): nothing more is handed out. */
  private stopped = false;
  private unfinishedWorkTimer: NodeJS.Timeout | undefined;

  constructor(options: WorkQueueOptions<K> = {}) {
    this.name = options.name ?? "";
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter<K>();
    this.metrics = options.metrics ?? {};
  }

  /**
   * Marks `key` as needing processing. A key already waiting is not queued twice; a key being
   * processed is queued again only once its worker calls done(). Ignored after shutdown.
   */
  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.metrics.add?.();
    this.dirty.add(key);
    this.addedAt.set(key, nowMs());
    if (this.processing.has(key)) return; // done() will queue it
    this.enqueue(key);
  }

  /**
   * Waits for the next key (FIFO) and marks it as processing; the caller must call done(key).
   * Resolves `undefined` once the queue is shut down, or, when draining, once it is also empty.
   */
  get(): Promise<K | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.reportDepth();
      this.startProcessing(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Ends processing of `key`; if it was added meanwhile it goes back to the queue. */
  done(key: K): void {
    const startedAt = this.processing.get(key);
    if (startedAt === undefined) return; // not handed out (or done twice): nothing to do
    this.processing.delete(key);
    this.metrics.workDuration?.((nowMs() - startedAt) / 1000);
    if (this.dirty.has(key) && !this.stopped) this.enqueue(key);
    if (this.processing.size === 0) this.stopUnfinishedWorkReports();
    this.finishDrainIfIdle();
  }

  /**
   * Adds `key` after `delayMs`. If the key is already waiting for a delayed add, the earlier
   * deadline wins (a later request is dropped, an earlier one replaces it), so a key is never
   * added twice by timers. A delay <= 0 adds immediately. Timers do not keep the process alive.
   */
  addAfter(key: K, delayMs: number): void {
    if (this.shuttingDown) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const readyAt = nowMs() + delayMs;
    const pending = this.delayed.get(key);
    if (pending !== undefined) {
      if (pending.readyAt <= readyAt) return;
      clearTimeout(pending.timer);
    }
    this.delayed.set(key, { readyAt, timer: this.armTimer(key, readyAt) });
  }

  /** Re-adds `key` after the delay its rate limiter prescribes (counts as a retry). */
  addRateLimited(key: K): void {
    if (this.shuttingDown) return; // don't record a retry that will never happen
    this.metrics.retry?.();
    this.addAfter(key, this.rateLimiter.when(key));
  }

  /** Clears the rate limiter's history for `key`; call after it was processed successfully. */
  forget(key: K): void {
    this.rateLimiter.forget(key);
  }

  /** How many times `key` has been rate-limited since it was last forgotten. */
  numRequeues(key: K): number {
    return this.rateLimiter.retries(key);
  }

  /** Keys waiting to be handed out (not counting keys being processed or delayed). */
  len(): number {
    return this.queue.length;
  }

  /** Keys currently held by workers. */
  lenProcessing(): number {
    return this.processing.size;
  }

  /** Keys scheduled by addAfter/addRateLimited whose delay has not yet elapsed. */
  lenDelayed(): number {
    return this.delayed.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Stops immediately: queued and delayed keys are dropped, pending and future get() calls
   * resolve `undefined`, and pending drains are released. Workers still holding a key may
   * call done(), which then only records metrics.
   */
  shutdown(): void {
    if (this.stopped) return;
    this.shuttingDown = true;
    this.stopped = true;
    this.clearDelayed();
    this.queue.clear();
    this.dirty.clear();
    this.addedAt.clear();
    this.reportDepth();
    this.releaseWaiters();
    this.stopUnfinishedWorkReports();
    for (const release of this.drainWaiters.splice(0)) release();
  }

  /**
   * Graceful stop: new adds (and pending delayed adds) are dropped at once, but workers keep
   * receiving the keys already queued, including keys re-queued by done(). Resolves once nothing
   * is queued or processing, or after `timeoutMs`, whichever is first; either way the queue ends
   * fully shut down (as by shutdown()).
   */
  shutDownWithDrain(timeoutMs: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.shuttingDown = true;
    this.clearDelayed();
    // Waiters exist only while the queue is empty, and nothing new can arrive except keys
    // re-queued by done(), which the worker calling done() will pick up on its next get().
    this.releaseWaiters();
    return new Promise<void>((resolve) => {
      // Ref'd on purpose: the caller is awaiting this promise, and the wait is bounded.
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => this.shutdown(), Math.max(0, Math.min(timeoutMs, MAX_TIMER_MS)))
        : undefined;
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.finishDrainIfIdle();
    });
  }

  /** Seconds of work in flight so far, summed over all keys being processed. */
  unfinishedWorkSeconds(): number {
    const now = nowMs();
    let total = 0;
    for (const startedAt of this.processing.values()) total += now - startedAt;
    return total / 1000;
  }

  /** Seconds the longest-running in-flight key has been processing (0 when idle). */
  longestRunningProcessorSeconds(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const startedAt of this.processing.values()) oldest = Math.min(oldest, startedAt);
    return oldest === Number.POSITIVE_INFINITY ? 0 : (nowMs() - oldest) / 1000;
  }

  /** Hands `key` straight to a waiting worker if there is one, otherwise queues it. */
  private enqueue(key: K): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      // Mark it processing synchronously so a racing add() sees it as in flight.
      this.startProcessing(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
    this.reportDepth();
  }

  private startProcessing(key: K): void {
    const now = nowMs();
    this.dirty.delete(key);
    this.processing.set(key, now);
    const addedAt = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (addedAt !== undefined) this.metrics.queueLatency?.((now - addedAt) / 1000);
    this.startUnfinishedWorkReports();
  }

  private armTimer(key: K, readyAt: number): NodeJS.Timeout {
    const waitMs = Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(readyAt - nowMs())));
    const timer = setTimeout(() => this.onDelayElapsed(key, readyAt), waitMs);
    timer.unref(); // a pending retry must not keep the operator process alive
    return timer;
  }

  private onDelayElapsed(key: K, readyAt: number): void {
    const pending = this.delayed.get(key);
    if (pending === undefined || pending.readyAt !== readyAt) return; // superseded
    // Timer clocks are coarser than performance.now(), and long delays are armed in steps.
    if (readyAt > nowMs()) {
      pending.timer = this.armTimer(key, readyAt);
      return;
    }
    this.delayed.delete(key);
    this.add(key);
  }

  private clearDelayed(): void {
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
  }

  private releaseWaiters(): void {
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  private finishDrainIfIdle(): void {
    if (this.drainWaiters.length > 0 && this.queue.length === 0 && this.processing.size === 0) {
      this.shutdown(); // releases the drain waiters
    }
  }

  private reportDepth(): void {
    this.metrics.depth?.(this.queue.length);
  }

  /*
   * unfinishedWork/longestRunning describe work that has *not* finished, so no event fires for
   * them; they are pushed every 500 ms (like client-go) while at least one key is in flight. The
   * timer starts lazily with the first get(), stops (after reporting zeros) when the last key is
   * done or on shutdown, and is unref'd, so an idle queue costs nothing and never keeps the
   * process alive. unfinishedWorkSeconds()/longestRunningProcessorSeconds() give the same
   * values on demand.
   */
  private startUnfinishedWorkReports(): void {
    if (this.unfinishedWorkTimer !== undefined || this.stopped) return;
    if (this.metrics.unfinishedWork === undefined && this.metrics.longestRunning === undefined) return;
    this.unfinishedWorkTimer = setInterval(() => this.reportUnfinishedWork(), UNFINISHED_WORK_REPORT_MS);
    this.unfinishedWorkTimer.unref();
  }

  private stopUnfinishedWorkReports(): void {
    if (this.unfinishedWorkTimer === undefined) return;
    clearInterval(this.unfinishedWorkTimer);
    this.unfinishedWorkTimer = undefined;
    this.reportUnfinishedWork(); // so the gauges don't keep a stale non-zero value
  }

  private reportUnfinishedWork(): void {
    this.metrics.unfinishedWork?.(this.unfinishedWorkSeconds());
    this.metrics.longestRunning?.(this.longestRunningProcessorSeconds());
  }
}

type QueueLabel = "name" | "controller";
const QUEUE_LABELS: QueueLabel[] = ["name", "controller"];
/** 1e-8 s … 10 s, x10 per bucket; built from decimal literals to avoid 1.0000000000000001e-7. */
const DURATION_BUCKETS = Array.from({ length: 10 }, (_, i) => Number(`1e${i - 8}`));

/**
 * Looks a metric up by name so several queues (or a re-created controller) can share one
 * registry; prom-client throws if the same name is registered twice.
 */
function registeredOr<M>(
  registry: Registry,
  metricName: string,
  kind: abstract new (...args: never[]) => M,
  create: () => M,
): M {
  const existing = registry.getSingleMetric(metricName);
  if (existing === undefined) return create();
  if (existing instanceof kind) return existing;
  throw new Error(`metric ${metricName} is already registered in this registry with a different type`);
}

/**
 * WorkQueueMetrics backed by prom-client, using controller-runtime's metric names and its
 * `name`/`controller` labels so existing dashboards and alerts work unchanged.
 */
export function promWorkQueueMetrics(registry: Registry, name: string, controller: string): WorkQueueMetrics {
  const labels: Record<QueueLabel, string> = { name, controller };
  const registers = [registry];
  const gauge = (metricName: string, help: string): Gauge<QueueLabel> =>
    registeredOr(
      registry,
      metricName,
      Gauge,
      () => new Gauge<QueueLabel>({ name: metricName, help, labelNames: QUEUE_LABELS, registers }),
    );
  const counter = (metricName: string, help: string): Counter<QueueLabel> =>
    registeredOr(
      registry,
      metricName,
      Counter,
      () => new Counter<QueueLabel>({ name: metricName, help, labelNames: QUEUE_LABELS, registers }),
    );
  const histogram = (metricName: string, help: string): Histogram<QueueLabel> =>
    registeredOr(
      registry,
      metricName,
      Histogram,
      () =>
        new Histogram<QueueLabel>({
          name: metricName,
          help,
          labelNames: QUEUE_LABELS,
          buckets: DURATION_BUCKETS,
          registers,
        }),
    );

  const depth = gauge("workqueue_depth", "Current depth of workqueue");
  const adds = counter("workqueue_adds_total", "Total number of adds handled by workqueue");
  const queueLatency = histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested",
  );
  const workDuration = histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes.",
  );
  const retries = counter("workqueue_retries_total", "Total number of retries handled by workqueue");
  const unfinishedWork = gauge(
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has been done that is in progress and hasn't been observed by " +
      "work_duration. Large values indicate stuck threads. One can deduce the number of stuck " +
      "threads by observing the rate at which this increases.",
  );
  const longestRunning = gauge(
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running.",
  );

  // Create the series up front so a quiet queue shows zeros rather than nothing.
  adds.inc(labels, 0);
  retries.inc(labels, 0);
  depth.set(labels, 0);
  unfinishedWork.set(labels, 0);
  longestRunning.set(labels, 0);

  return {
    add: () => adds.inc(labels),
    depth: (n) => depth.set(labels, n),
    queueLatency: (seconds) => queueLatency.observe(labels, seconds),
    workDuration: (seconds) => workDuration.observe(labels, seconds),
    retry: () => retries.inc(labels),
    unfinishedWork: (seconds) => unfinishedWork.set(labels, seconds),
    longestRunning: (seconds) => longestRunning.set(labels, seconds),
  };
}
