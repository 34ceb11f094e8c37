// Local stand-in for pkg/manager/runnable.ts (PKG-CONTRACT.md) until Manager.add(runnable)
// lands on main: a long-running piece the manager starts and stops, added to today's manager
// in the shape of a controller (setup, start, stop(drainMs)).

import type { Controller } from "../../pkg/controller/controller.ts";

export interface Runnable {
  readonly name: string;
  start(): void | Promise<void>;
  stop(): Promise<void>;
  /** Default true: runs only on the leader. False: runs on every replica from the start. */
  needLeaderElection?: boolean;
}

/**
 * Today's manager starts controllers on the leader and stops them all, in parallel, on
 * Manager.stop(). A runnable that needs no leader election is started as soon as it is added.
 */
export function asController(r: Runnable): Controller {
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    void r.start();
  };
  const adapter = {
    name: r.name,
    concurrency: 0,
    setup: () => {
      if (r.needLeaderElection === false) start();
    },
    start,
    stop: () => r.stop(),
  };
  return adapter as unknown as Controller;
}
