/**
 * Rate limiters for the work queue, modelled on the semantics of client-go's
 * `workqueue` rate limiters (no code copied).
 *
 * A rate limiter answers "how long should this item wait before it is retried?".
 * `when()` is called once per retry and records that retry; `forget()` is called
 * when the item has been processed successfully so that its history is cleared.
 */

/** Decides how long an item waits before it is (re-)queued. */
export interface RateLimiter<K> {
  /** Records a retry of `item` and returns how long (ms) it should wait before being queued. */
  when(item: K): number;
  /** Clears any per-item history (call after the item was processed successfully). */
  forget(item: K): void;
  /** How many times `when()` has been called for `item` since it was last forgotten. */
  retries(item: K): number;
}

/**
 * Per-item exponential backoff: the n-th consecutive failure of an item waits
 * `baseMs * 2^(n-1)`, capped at `maxMs`. Failures are counted per item so that one
 * misbehaving object does not slow down the others.
 */
export class ItemExponentialRateLimiter<K> implements RateLimiter<K> {
  private readonly failures = new Map<K, number>();

  constructor(
    private readonly baseMs = 5,
    private readonly maxMs = 1_000_000,
  ) {
    if (!(baseMs >= 0) || !(maxMs >= 0)) {
      throw new RangeError(
        `ItemExponentialRateLimiter: baseMs and maxMs must be >= 0 (got ${baseMs}, ${maxMs})`,
      );
    }
  }

  when(item: K): number {
    const exponent = this.failures.get(item) ?? 0;
    this.failures.set(item, exponent + 1);
    if (this.baseMs === 0) return 0;
    // 2 ** exponent overflows to Infinity after ~1024 failures; the cap handles that.
    const delay = this.baseMs * 2 ** exponent;
    return Number.isFinite(delay) ? Math.min(delay, this.maxMs) : this.maxMs;
  }

  forget(item: K): void {
    this.failures.delete(item);
  }

  retries(item: K): number {
    return this.failures.get(item) ?? 0;
  }
}

/**
 * A single token bucket shared by all items: it bounds the overall retry rate to
 * `qps` with bursts of up to `burst`. `when()` *reserves* a token, possibly one that
 * will only exist in the future (the token count may go negative), and returns how
 * long until that token is available. Consecutive calls past the burst therefore get
 * delays spaced by `1000 / qps` ms, which spreads a thundering herd of retries out.
 *
 * The clock is injectable so tests can drive time deterministically.
 */
export class TokenBucketRateLimiter<K> implements RateLimiter<K> {
  private tokens: number;
  private lastRefill: number;

  constructor(
    private readonly qps = 10,
    private readonly burst = 100,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(qps > 0)) throw new RangeError(`TokenBucketRateLimiter: qps must be > 0 (got ${qps})`);
    if (!(burst >= 1)) throw new RangeError(`TokenBucketRateLimiter: burst must be >= 1 (got ${burst})`);
    this.tokens = burst;
    this.lastRefill = now();
  }

  when(_item: K): number {
    if (this.qps === Number.POSITIVE_INFINITY) return 0;
    const now = this.now();
    // Refill for the time elapsed since the last reservation; never above the burst.
    const elapsedMs = Math.max(0, now - this.lastRefill);
    this.tokens = Math.min(this.burst, this.tokens + (elapsedMs * this.qps) / 1000);
    this.lastRefill = now;
    this.tokens -= 1;
    // A non-negative balance means the token exists now; otherwise we wait for the deficit to refill.
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.qps;
  }

  /** The bucket is global; there is no per-item state to forget. */
  forget(_item: K): void {}

  /** The bucket does not track items. */
  retries(_item: K): number {
    return 0;
  }
}

/**
 * Combines limiters: an item waits for the longest of their delays. Every limiter's
 * `when()` is called (each needs to record the retry), not just until the largest.
 */
export class MaxOfRateLimiter<K> implements RateLimiter<K> {
  private readonly limiters: readonly RateLimiter<K>[];

  constructor(...limiters: RateLimiter<K>[]) {
    if (limiters.length === 0) throw new RangeError("MaxOfRateLimiter needs at least one limiter");
    this.limiters = limiters;
  }

  when(item: K): number {
    let longest = 0;
    for (const limiter of this.limiters) longest = Math.max(longest, limiter.when(item));
    return longest;
  }

  forget(item: K): void {
    for (const limiter of this.limiters) limiter.forget(item);
  }

  retries(item: K): number {
    let most = 0;
    for (const limiter of this.limiters) most = Math.max(most, limiter.retries(item));
    return most;
  }
}

/**
 * The controller default (same shape as client-go's): per-item exponential backoff from
 * 5 ms to 1000 s, combined with an overall 10 qps / 100 burst bucket.
 */
export function defaultControllerRateLimiter<K>(): RateLimiter<K> {
  return new MaxOfRateLimiter<K>(
    new ItemExponentialRateLimiter<K>(5, 1_000_000),
    new TokenBucketRateLimiter<K>(10, 100),
  );
}
