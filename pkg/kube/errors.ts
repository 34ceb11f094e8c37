// Errors from the API server, carrying its Status so callers can branch on the reason.

export interface StatusBody {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: unknown;
}

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly status: StatusBody;

  constructor(code: number, status: StatusBody, context: string) {
    super(`${context}: ${code} ${status.reason ?? ""}: ${status.message ?? "(no message)"}`);
    this.name = "ApiError";
    this.code = code;
    this.reason = status.reason ?? "";
    this.status = status;
  }
}

const hasCode = (err: unknown, code: number): boolean => err instanceof ApiError && err.code === code;

export const isNotFound = (err: unknown): boolean => hasCode(err, 404);
export const isConflict = (err: unknown): boolean =>
  hasCode(err, 409) && (err as ApiError).reason === "Conflict";
export const isAlreadyExists = (err: unknown): boolean =>
  hasCode(err, 409) && (err as ApiError).reason === "AlreadyExists";
/** 410 Gone: the resourceVersion we asked for has been compacted away. */
export const isGone = (err: unknown): boolean => hasCode(err, 410);
export const isTooManyRequests = (err: unknown): boolean => hasCode(err, 429);
export const isInvalid = (err: unknown): boolean => hasCode(err, 422);
export const isForbidden = (err: unknown): boolean => hasCode(err, 403);
/**
 * 403 because a ResourceQuota of the namespace has not been counted yet (a new quota, or a kind
 * the quota controller has not discovered): transient, the same create passes once it is.
 */
export const isQuotaUncounted = (err: unknown): boolean =>
  isForbidden(err) && /status unknown for quota/.test((err as ApiError).message);
