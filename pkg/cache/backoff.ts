// Reconnect backoff for watches, as client-go's reflector does it: grows from 800 ms to 30 s
// with jitter and starts over once the connection has been healthy for a while.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** After this long without a failure the next failure starts again from initialMs. */
  resetAfterMs: number;
  jitter: number;
  now?: () => number;
}

export const DEFAULT_WATCH_BACKOFF: BackoffOptions = {
  initialMs: 800,
  maxMs: 30_000,
  resetAfterMs: 120_000,
  jitter: 0.2,
};

export class Backoff {
  private current = 0;
  private lastFailure = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;

  constructor(private readonly opts: BackoffOptions = DEFAULT_WATCH_BACKOFF) {
    this.now = opts.now ?? Date.now;
  }

  /** The delay before the next attempt after a failure now. */
  next(): number {
    const t = this.now();
    if (t - this.lastFailure > this.opts.resetAfterMs) this.current = 0;
    this.lastFailure = t;
    this.current = this.current === 0 ? this.opts.initialMs : Math.min(this.current * 2, this.opts.maxMs);
    return this.current * (1 + this.opts.jitter * Math.random());
  }
}
