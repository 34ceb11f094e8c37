// Work started by a reconcile that finishes after it (a binding sent in the background):
// tracked, so that its owner can wait for it on stop instead of leaving a promise that
// outlives the manager.

export class InFlight {
  private readonly running = new Set<Promise<unknown>>();

  /** Runs fn and tracks it until it settles; its result or error goes to the caller as usual. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = fn();
    const tracked = p.finally(() => this.running.delete(tracked));
    this.running.add(tracked);
    tracked.catch(() => undefined); // the caller handles the error; tracking must not raise it twice
    return p;
  }

  get size(): number {
    return this.running.size;
  }

  /** Waits until nothing is in flight (true) or the deadline passes (false). */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.running.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise((r) => {
        timer = setTimeout(r, left);
      });
      await Promise.race([Promise.allSettled([...this.running]), timeout]);
      clearTimeout(timer);
    }
    return true;
  }
}
