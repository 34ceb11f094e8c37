// The reconciler's contract: told which object to look at (never what changed), given the
// shared caches and a logger, it answers done or "look again after a delay", or throws.

import type { SharedInformerFactory } from "../cache/factory.ts";
import type { Logger } from "../log.ts";

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

export interface ReconcileContext {
  log: Logger;
  reconcileId: string;
  /** The manager's shared informers: read objects from their stores, not from the API server. */
  cache: SharedInformerFactory;
}

// biome-ignore lint/suspicious/noConfusingVoidType: a reconciler that is simply done returns nothing
export type ReconcileFunc = (req: Request, ctx: ReconcileContext) => Promise<Result | void>;
