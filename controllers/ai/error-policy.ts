// Local stand-in for pkg/controller/error-policy.ts (PKG-CONTRACT.md) until ErrorPolicy lands
// on main: a controller's reconcile wrapped so that a failure is reported (once per failure)
// before the controller classifies it (today's Controller: TerminalError → never, else backoff).

import type { ReconcileContext, ReconcileFunc, Request } from "../../pkg/controller/controller.ts";

export interface ErrorPolicy {
  /** Shows a terminal error to the user (status condition, event); called once per failure. */
  report?(req: Request, err: Error, ctx: ReconcileContext): Promise<void>;
}

export function withErrorPolicy(reconcile: ReconcileFunc, policy: ErrorPolicy): ReconcileFunc {
  return async (req, ctx) => {
    try {
      return await reconcile(req, ctx);
    } catch (err) {
      if (err instanceof Error) await policy.report?.(req, err, ctx);
      throw err;
    }
  };
}
