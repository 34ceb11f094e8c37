// What a controller does when reconcile fails: retry with backoff (transient), retry after a
// set delay, or never (terminal: bad input that only a change can fix). Terminal errors are
// shown to the user once, through `report` (a status condition, an event), and then the key
// waits for the next change of its object instead of requeueing forever.

import type { ReconcileContext, Request } from "./reconciler.ts";

/** An error that retrying cannot fix (bad input): reported, not retried. */
export class TerminalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TerminalError";
  }
}

export type ErrorAction = { retry: "backoff" } | { retry: "after"; ms: number } | { retry: "never" };

export interface ErrorPolicy {
  /** Default: TerminalError → never, anything else → backoff. */
  classify?(err: unknown): ErrorAction;
  /** Shows a terminal error to the user (status condition, event); called once per failure. */
  report?(req: Request, err: Error, ctx: ReconcileContext): Promise<void>;
}

export function defaultClassify(err: unknown): ErrorAction {
  return err instanceof TerminalError ? { retry: "never" } : { retry: "backoff" };
}
