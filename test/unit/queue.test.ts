import { expect } from "chai";
import fc from "fast-check";
import { Counter, Registry } from "prom-client";
import {
  defaultControllerRateLimiter,
  ItemExponentialRateLimiter,
  MaxOfRateLimiter,
  promWorkQueueMetrics,
  TokenBucketRateLimiter,
  WorkQueue,
  type WorkQueueMetrics,
} from "../../pkg/queue/index.ts";

/** Polls `condition` until it holds; fails (instead of hanging) after `timeoutMs`. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Lets every already-runnable callback (microtasks and one macrotask turn) run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Yields `n` times to the microtask queue; n >= 4 also yields a macrotask turn. */
async function yieldTicks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
  if (n >= 4) await flush();
}

/** Tracks a promise's outcome so tests can assert it is still pending. */
function track<T>(promise: Promise<T>): { settled: boolean; value: T | undefined } {
  const state: { settled: boolean; value: T | undefined } = { settled: false, value: undefined };
  void promise.then((value) => {
    state.settled = true;
    state.value = value;
  });
  return state;
}

/** Records every metrics hook call. */
class RecordingMetrics implements Required<WorkQueueMetrics> {
  adds = 0;
  retries = 0;
  depths: number[] = [];
  queueLatencies: number[] = [];
  workDurations: number[] = [];
  unfinished: number[] = [];
  longest: number[] = [];
  add(): void {
    this.adds++;
  }
  depth(n: number): void {
    this.depths.push(n);
  }
  queueLatency(seconds: number): void {
    this.queueLatencies.push(seconds);
  }
  workDuration(seconds: number): void {
    this.workDurations.push(seconds);
  }
  retry(): void {
    this.retries++;
  }
  unfinishedWork(seconds: number): void {
    this.unfinished.push(seconds);
  }
  longestRunning(seconds: number): void {
    this.longest.push(seconds);
  }
}

/** Ref'd timers currently keeping the event loop alive (unref'd ones are not listed). */
const refTimerCount = (): number => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

describe("queue: rate limiters", () => {
  describe("ItemExponentialRateLimiter", () => {
    it("doubles the delay per failure and resets on forget", () => {
      const limiter = new ItemExponentialRateLimiter<string>(5, 1000);
      expect([1, 2, 3, 4, 5].map(() => limiter.when("a"))).to.deep.equal([5, 10, 20, 40, 80]);
      expect(limiter.retries("a")).to.equal(5);
      // Other items have their own history.
      expect(limiter.when("b")).to.equal(5);
      limiter.forget("a");
      expect(limiter.retries("a")).to.equal(0);
      expect(limiter.when("a")).to.equal(5);
      expect(limiter.retries("b")).to.equal(1);
    });

    it("caps the delay at max, even after very many failures", () => {
      const limiter = new ItemExponentialRateLimiter<string>(5, 30);
      expect([1, 2, 3, 4, 5].map(() => limiter.when("a"))).to.deep.equal([5, 10, 20, 30, 30]);
      for (let i = 0; i < 2000; i++) limiter.when("a"); // 2 ** 2000 overflows to Infinity
      expect(limiter.when("a")).to.equal(30);
    });

    it("uses 5 ms .. 1000 s by default", () => {
      const limiter = new ItemExponentialRateLimiter<string>();
      expect(limiter.when("a")).to.equal(5);
      for (let i = 0; i < 40; i++) limiter.when("a");
      expect(limiter.when("a")).to.equal(1_000_000);
    });

    it("property: delays are non-decreasing, capped, and reset by forget", () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 100 }),
          fc.integer({ min: 1, max: 100_000 }),
          fc.array(fc.record({ key: fc.constantFrom("a", "b", "c"), forget: fc.boolean() }), {
            maxLength: 200,
          }),
          (baseMs, maxMs, ops) => {
            const limiter = new ItemExponentialRateLimiter<string>(baseMs, maxMs);
            const previous = new Map<string, number>();
            const counts = new Map<string, number>();
            for (const { key, forget } of ops) {
              if (forget) {
                limiter.forget(key);
                previous.delete(key);
                counts.delete(key);
                expect(limiter.retries(key)).to.equal(0);
                continue;
              }
              const delay = limiter.when(key);
              expect(delay).to.be.at.most(maxMs);
              const before = previous.get(key);
              if (before === undefined) expect(delay).to.equal(Math.min(baseMs, maxMs));
              else expect(delay).to.be.at.least(before);
              previous.set(key, delay);
              counts.set(key, (counts.get(key) ?? 0) + 1);
              expect(limiter.retries(key)).to.equal(counts.get(key));
            }
          },
        ),
      );
    });
  });

  describe("TokenBucketRateLimiter", () => {
    it("lets a burst through, then spaces reservations 1/qps apart", () => {
      let now = 0;
      const limiter = new TokenBucketRateLimiter<string>(10, 3, () => now);
      const delays = ["a", "b", "c", "d", "e", "f"].map((key) => limiter.when(key));
      expect(delays).to.deep.equal([0, 0, 0, 100, 200, 300]);
      // It is global: retries/forget are not per item.
      expect(limiter.retries("a")).to.equal(0);
      limiter.forget("d");
      expect(limiter.when("d")).to.equal(400);
      now = 1000; // 10 tokens refilled, 4 were owed
      expect(limiter.when("x")).to.equal(0);
    });

    it("refills at qps and never beyond the burst", () => {
      let now = 0;
      const limiter = new TokenBucketRateLimiter<string>(10, 2, () => now);
      expect([limiter.when("a"), limiter.when("a")]).to.deep.equal([0, 0]);
      now += 100; // exactly one token
      expect(limiter.when("a")).to.equal(0);
      now += 50; // half a token
      expect(limiter.when("a")).to.equal(50);
      now += 3_600_000; // long idle: still only `burst` tokens
      expect([limiter.when("a"), limiter.when("a"), limiter.when("a")]).to.deep.equal([0, 0, 100]);
    });

    it("matches the 10 qps / 100 burst defaults", () => {
      const limiter = new TokenBucketRateLimiter<string>(10, 100, () => 0);
      for (let i = 0; i < 100; i++) expect(limiter.when(`k${i}`)).to.equal(0);
      expect(limiter.when("k100")).to.equal(100);
      expect(limiter.when("k101")).to.equal(200);
    });

    it("rejects nonsensical settings", () => {
      expect(() => new TokenBucketRateLimiter<string>(0, 1)).to.throw(RangeError);
      expect(() => new TokenBucketRateLimiter<string>(1, 0)).to.throw(RangeError);
    });
  });

  describe("MaxOfRateLimiter", () => {
    it("returns the longest delay and delegates forget/retries", () => {
      let now = 0;
      const limiter = new MaxOfRateLimiter<string>(
        new ItemExponentialRateLimiter<string>(5, 1000),
        new TokenBucketRateLimiter<string>(1, 1, () => now),
      );
      expect(limiter.when("a")).to.equal(5); // bucket had a token
      expect(limiter.when("a")).to.equal(1000); // bucket owes a token: 1 s > 10 ms
      expect(limiter.retries("a")).to.equal(2);
      limiter.forget("a");
      expect(limiter.retries("a")).to.equal(0);
      now = 10_000; // bucket refilled
      expect(limiter.when("a")).to.equal(5);
    });

    it("defaultControllerRateLimiter starts at 5 ms per item", () => {
      const limiter = defaultControllerRateLimiter<string>();
      expect([limiter.when("a"), limiter.when("a"), limiter.when("b")]).to.deep.equal([5, 10, 5]);
      expect(limiter.retries("a")).to.equal(2);
    });
  });
});

describe("queue: WorkQueue", () => {
  describe("adding and getting", () => {
    it("de-duplicates keys waiting in the queue and hands them out in FIFO order", async () => {
      const metrics = new RecordingMetrics();
      const q = new WorkQueue({ metrics });
      for (const key of ["a", "b", "a", "c", "b", "a"]) q.add(key);
      expect(q.len()).to.equal(3);
      expect(metrics.adds).to.equal(3);
      expect([await q.get(), await q.get(), await q.get()]).to.deep.equal(["a", "b", "c"]);
      expect(q.len()).to.equal(0);
      expect(q.lenProcessing()).to.equal(3);
      q.shutdown();
    });

    it("does not hand out a key that is being processed, and re-queues it on done()", async () => {
      const q = new WorkQueue();
      q.add("a");
      expect(await q.get()).to.equal("a");
      q.add("a");
      q.add("a");
      expect(q.len()).to.equal(0);
      const second = track(q.get());
      await flush();
      expect(second.settled).to.equal(false);
      q.done("a");
      await waitFor(() => second.settled, "the re-added key to be handed out");
      expect(second.value).to.equal("a");
      q.done("a");
      expect(q.len()).to.equal(0); // added twice while processing, queued once
      q.shutdown();
    });

    it("done() without a re-add does not re-queue, and unknown keys are ignored", async () => {
      const q = new WorkQueue();
      q.add("a");
      const key = await q.get();
      q.done(key!);
      q.done("never-added");
      q.done(key!);
      expect(q.len()).to.equal(0);
      expect(q.lenProcessing()).to.equal(0);
      q.shutdown();
    });

    it("serves several concurrent waiters in order", async () => {
      const q = new WorkQueue();
      const waiters = [q.get(), q.get(), q.get()];
      q.add("a");
      q.add("b");
      q.add("a"); // processing already: must not reach the third waiter
      q.add("c");
      expect(await Promise.all(waiters)).to.deep.equal(["a", "b", "c"]);
      q.shutdown();
    });

    it("never processes one key on two workers at once", async () => {
      const q = new WorkQueue();
      const inFlight = new Set<string>();
      const processed = new Map<string, number>();
      const overlaps: string[] = [];
      const worker = async (): Promise<void> => {
        for (let key = await q.get(); key !== undefined; key = await q.get()) {
          if (inFlight.has(key)) overlaps.push(key);
          inFlight.add(key);
          processed.set(key, (processed.get(key) ?? 0) + 1);
          await flush(); // stay busy across event-loop turns while the producer keeps adding
          inFlight.delete(key);
          q.done(key);
        }
      };
      const workers = Array.from({ length: 6 }, worker);
      const keys = ["a", "b", "c"];
      for (let round = 0; round < 50; round++) {
        for (const key of keys) q.add(key);
        await yieldTicks(round % 5);
      }
      await waitFor(() => q.len() === 0 && q.lenProcessing() === 0, "the queue to go idle");
      q.shutdown();
      await Promise.all(workers);
      expect(overlaps).to.deep.equal([]);
      for (const key of keys) expect(processed.get(key)).to.be.greaterThan(1);
    });

    it("property: no key is processed concurrently and no added key is lost", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ key: fc.constantFrom("a", "b", "c", "d", "e"), pause: fc.nat(5) }), {
            minLength: 1,
            maxLength: 40,
          }),
          fc.integer({ min: 1, max: 5 }),
          fc.array(fc.nat(5), { minLength: 1, maxLength: 8 }),
          async (adds, workerCount, holdTimes) => {
            const q = new WorkQueue();
            let sequence = 0; // a logical clock ordering adds and processing starts
            const lastAdded = new Map<string, number>();
            const lastStarted = new Map<string, number>();
            const inFlight = new Set<string>();
            const overlaps: string[] = [];
            let holds = 0;
            const worker = async (): Promise<void> => {
              for (let key = await q.get(); key !== undefined; key = await q.get()) {
                if (inFlight.has(key)) overlaps.push(key);
                inFlight.add(key);
                lastStarted.set(key, sequence++);
                await yieldTicks(holdTimes[holds++ % holdTimes.length] ?? 0);
                inFlight.delete(key);
                q.done(key);
              }
            };
            const workers = Array.from({ length: workerCount }, worker);
            for (const { key, pause } of adds) {
              q.add(key);
              lastAdded.set(key, sequence++);
              await yieldTicks(pause);
            }
            await waitFor(() => q.len() === 0 && q.lenProcessing() === 0, "the queue to go idle");
            q.shutdown();
            await Promise.all(workers);
            expect(overlaps).to.deep.equal([]);
            for (const [key, addedAt] of lastAdded) {
              expect(lastStarted.get(key) ?? -1, `key ${key} processed after its last add`).to.be.greaterThan(
                addedAt,
              );
            }
          },
        ),
        { numRuns: 100 },
      );
    });
  });

  describe("delayed adds", () => {
    it("adds the key once the delay has elapsed", async () => {
      const q = new WorkQueue();
      const start = performance.now();
      q.addAfter("a", 30);
      expect(q.len()).to.equal(0);
      expect(q.lenDelayed()).to.equal(1);
      await waitFor(() => q.len() === 1, "the delayed key");
      expect(performance.now() - start).to.be.at.least(30);
      expect(q.lenDelayed()).to.equal(0);
      q.shutdown();
    });

    it("keeps the earliest deadline when a waiting key is added again", async () => {
      const q = new WorkQueue();
      const start = performance.now();
      q.addAfter("a", 60_000);
      q.addAfter("a", 20); // earlier: replaces the first
      q.addAfter("a", 40_000); // later: dropped
      expect(q.lenDelayed()).to.equal(1);
      await waitFor(() => q.len() === 1, "the delayed key");
      expect(performance.now() - start).to.be.lessThan(1000);
      expect(q.lenDelayed()).to.equal(0); // no timer left to add a duplicate later
      expect(await q.get()).to.equal("a");
      q.shutdown();
    });

    it("does not duplicate a key that is already queued", async () => {
      const q = new WorkQueue();
      q.add("a");
      q.addAfter("a", 10);
      await waitFor(() => q.lenDelayed() === 0, "the delayed add to fire");
      expect(q.len()).to.equal(1);
      q.shutdown();
    });

    it("adds immediately when the delay is not positive", () => {
      const q = new WorkQueue();
      q.addAfter("a", 0);
      q.addAfter("b", -5);
      expect(q.len()).to.equal(2);
      expect(q.lenDelayed()).to.equal(0);
      q.shutdown();
    });

    it("does not keep the process alive with its timers", async () => {
      const metrics = new RecordingMetrics();
      const q = new WorkQueue({ metrics });
      // Counted synchronously around each call so no unrelated (e.g. mocha) timer can interfere.
      const before = refTimerCount();
      q.addAfter("a", 60_000);
      q.add("b");
      const got = q.get(); // starts processing, and with it the unfinished-work reporter
      expect(refTimerCount()).to.equal(before);
      expect(await got).to.equal("b");
      q.shutdown();
    });

    it("addRateLimited waits as the limiter says and counts requeues until forget", async () => {
      const metrics = new RecordingMetrics();
      const q = new WorkQueue({ rateLimiter: new ItemExponentialRateLimiter<string>(10, 100), metrics });
      q.addRateLimited("a");
      expect(q.numRequeues("a")).to.equal(1);
      expect(q.lenDelayed()).to.equal(1);
      await waitFor(() => q.len() === 1, "the rate-limited key");
      const key = await q.get();
      q.done(key!);
      q.addRateLimited("a");
      expect(q.numRequeues("a")).to.equal(2);
      expect(metrics.retries).to.equal(2);
      q.forget("a");
      expect(q.numRequeues("a")).to.equal(0);
      q.shutdown();
    });
  });

  describe("shutdown", () => {
    it("shutdown() releases waiters, drops queued and delayed keys, and ignores new adds", async () => {
      const q = new WorkQueue();
      const waiter = q.get();
      q.shutdown();
      expect(await waiter).to.equal(undefined);
      expect(q.isShuttingDown()).to.equal(true);

      const q2 = new WorkQueue();
      q2.add("a");
      q2.addAfter("b", 10);
      q2.shutdown();
      expect(q2.len()).to.equal(0);
      expect(q2.lenDelayed()).to.equal(0);
      q2.add("c");
      q2.addAfter("d", 0);
      q2.addRateLimited("e");
      expect(q2.len()).to.equal(0);
      expect(q2.numRequeues("e")).to.equal(0);
      expect(await q2.get()).to.equal(undefined);
    });

    it("shutdown() does not re-queue a key added while it was processing", async () => {
      const q = new WorkQueue();
      q.add("a");
      const key = await q.get();
      q.add("a");
      q.shutdown();
      q.done(key!);
      expect(q.len()).to.equal(0);
      expect(await q.get()).to.equal(undefined);
    });

    it("shutDownWithDrain() hands out queued keys and waits for in-flight work", async () => {
      const q = new WorkQueue();
      q.add("a");
      q.add("b");
      const a = await q.get();
      const drained = track(q.shutDownWithDrain(5000));
      expect(q.isShuttingDown()).to.equal(true);
      q.add("c"); // rejected while draining
      expect(await q.get()).to.equal("b");
      expect(await q.get()).to.equal(undefined); // empty: an idle worker may exit
      q.done(a!);
      await flush();
      expect(drained.settled).to.equal(false); // "b" is still processing
      q.done("b");
      await waitFor(() => drained.settled, "the drain to finish");
      expect(await q.get()).to.equal(undefined);
    });

    it("shutDownWithDrain() processes a key re-added while it was in flight", async () => {
      const q = new WorkQueue();
      q.add("a");
      const first = await q.get();
      q.add("a");
      const drained = track(q.shutDownWithDrain(5000));
      q.done(first!);
      expect(q.len()).to.equal(1);
      expect(await q.get()).to.equal("a");
      await flush();
      expect(drained.settled).to.equal(false);
      q.done("a");
      await waitFor(() => drained.settled, "the drain to finish");
    });

    it("shutDownWithDrain() releases idle waiters and resolves at once on an idle queue", async () => {
      const q = new WorkQueue();
      const waiter = q.get();
      await q.shutDownWithDrain(5000);
      expect(await waiter).to.equal(undefined);
    });

    it("shutDownWithDrain() gives up after the timeout", async () => {
      const q = new WorkQueue();
      q.add("stuck");
      q.add("queued");
      await q.get();
      const start = performance.now();
      await q.shutDownWithDrain(30);
      expect(performance.now() - start).to.be.at.least(25);
      expect(q.len()).to.equal(0); // fully stopped: the remaining key is dropped
      expect(await q.get()).to.equal(undefined);
      q.done("stuck"); // a late done() is harmless
    });

    it("shutdown() during a drain releases the drain", async () => {
      const q = new WorkQueue();
      q.add("a");
      await q.get();
      const drained = q.shutDownWithDrain(60_000);
      q.shutdown();
      await drained;
    });
  });

  describe("metrics", () => {
    it("reports depth, latencies, durations and unfinished work", async () => {
      const metrics = new RecordingMetrics();
      const q = new WorkQueue({ metrics, name: "test" });
      expect(q.name).to.equal("test");
      q.add("a");
      q.add("b");
      expect(metrics.depths.at(-1)).to.equal(2);
      const key = await q.get();
      expect(metrics.depths.at(-1)).to.equal(1);
      expect(metrics.queueLatencies).to.have.length(1);
      const start = performance.now();
      await waitFor(() => performance.now() - start > 5, "some work time to pass");
      expect(q.unfinishedWorkSeconds()).to.be.greaterThan(0);
      expect(q.longestRunningProcessorSeconds()).to.be.greaterThan(0);
      q.done(key!);
      expect(metrics.workDurations).to.have.length(1);
      expect(metrics.workDurations[0]).to.be.greaterThan(0.004);
      // Going idle reports zeros so the gauges don't go stale.
      expect(metrics.unfinished.at(-1)).to.equal(0);
      expect(metrics.longest.at(-1)).to.equal(0);
      expect(q.longestRunningProcessorSeconds()).to.equal(0);
      q.shutdown();
      expect(metrics.depths.at(-1)).to.equal(0);
    });

    it("promWorkQueueMetrics uses controller-runtime names and labels, and reuses registered metrics", async () => {
      const registry = new Registry();
      const q1 = new WorkQueue({ metrics: promWorkQueueMetrics(registry, "pods", "pods") });
      // A second queue on the same registry must not throw "already registered".
      const q2 = new WorkQueue({ metrics: promWorkQueueMetrics(registry, "nodes", "nodes") });
      q1.add("a");
      q1.add("b");
      q2.add("x");
      const key = await q1.get();
      q1.done(key!);
      q1.addRateLimited("a");

      const metrics = await registry.getMetricsAsJSON();
      expect(metrics.map((m) => m.name).sort()).to.deep.equal([
        "workqueue_adds_total",
        "workqueue_depth",
        "workqueue_longest_running_processor_seconds",
        "workqueue_queue_duration_seconds",
        "workqueue_retries_total",
        "workqueue_unfinished_work_seconds",
        "workqueue_work_duration_seconds",
      ]);
      const value = (name: string, queue: string): number | undefined =>
        metrics
          .find((m) => m.name === name)
          ?.values.find(
            (v) => v.labels.name === queue && v.labels.controller === queue && !("le" in v.labels),
          )?.value;
      expect(value("workqueue_adds_total", "pods")).to.equal(2);
      expect(value("workqueue_adds_total", "nodes")).to.equal(1);
      expect(value("workqueue_depth", "pods")).to.equal(1);
      expect(value("workqueue_retries_total", "pods")).to.equal(1);
      const buckets = metrics
        .find((m) => m.name === "workqueue_work_duration_seconds")
        ?.values.filter((v) => v.labels.name === "pods" && "le" in v.labels)
        .map((v) => v.labels.le);
      expect(buckets).to.deep.equal([1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, "+Inf"]);
      q1.shutdown();
      q2.shutdown();
    });

    it("promWorkQueueMetrics refuses a same-named metric of another type", () => {
      const registry = new Registry();
      new Counter({ name: "workqueue_depth", help: "wrong type", registers: [registry] });
      expect(() => promWorkQueueMetrics(registry, "q", "q")).to.throw(/different type/);
    });
  });
});
