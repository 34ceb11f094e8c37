// What a controller does when reconcile fails: retry with backoff (transient), retry after a
// set delay, or never (terminal: bad input that only a change can fix). Terminal errors are
// shown to the user once, through `report` (a status condition, an event), and then the key
// waits for the next change of its object instead of requeueing forever.

import { isConflict, isQuotaUncounted } from "../kube/errors.ts";
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

/** Retries of a routine failure that stay at debug level; from here on it is worth a warning. */
export const QUIET_RETRIES = 5;

/**
 * Whether a failure is routine contention that its retry resolves: a write that lost a race
 * (409 Conflict: the object changed meanwhile) or a create the API server cannot count yet
 * (a quota just made). Such a failure is no warning unless it keeps coming back.
 */
export function isRoutineRetry(err: unknown, retries: number): boolean {
  return (isConflict(err) || isQuotaUncounted(err)) && retries <= QUIET_RETRIES;
}

export function defaultClassify(err: unknown): ErrorAction {
  return err instanceof TerminalError ? { retry: "never" } : { retry: "backoff" };
}
