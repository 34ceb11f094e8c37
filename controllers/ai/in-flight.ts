// Local stand-in for pkg/manager/in-flight.ts (PKG-CONTRACT.md) until it lands on main:
// fire-and-forget work tracked so that its owner's stop() can wait for it.

export class InFlight {
  private readonly pending = new Set<Promise<unknown>>();

  get size(): number {
    return this.pending.size;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = fn();
    const tracked = p.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
    return p;
  }

  /** Resolves true once nothing is in flight, false if timeoutMs passed first. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), left);
      });
      const res = await Promise.race([Promise.all([...this.pending]), timedOut]);
      clearTimeout(timer);
      if (res === "timeout") return false;
    }
    return true;
  }
}
