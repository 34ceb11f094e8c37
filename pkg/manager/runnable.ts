// A long-running piece the manager owns besides controllers (a connection pool, a profiler,
// a binder with work in flight): started with the manager, stopped by Manager.stop().

export interface Runnable {
  readonly name: string;
  start(): void | Promise<void>;
  /** Stops and waits for whatever it has in flight. */
  stop(): Promise<void>;
  /** Default true: start only on the leader, with the controllers. False: on every replica at once. */
  needLeaderElection?: boolean;
}
