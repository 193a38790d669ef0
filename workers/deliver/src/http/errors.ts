/**
 * The one way deliver's HTTP routes (ops, webhooks) fail: they throw {@link HttpError} with a code,
 * {@link onError} turns it into `{"error": code, "message": sentence}` with the code's status. A new
 * code is one line in the table.
 */

import type { Context } from "hono";

const HTTP_ERRORS = {
  bad_request: [400, "The request is not what this route accepts."],
  unauthorized: [401, "Send Authorization: Bearer <ops token>."],
  bad_signature: [401, "The webhook signature does not verify."],
  stale_timestamp: [401, "The webhook timestamp is more than 5 minutes away from now."],
  not_found: [404, "No route matches this path."],
  dead_letter_not_found: [404, "No dead letter has this id."],
  method_not_allowed: [405, "This method is not allowed here."],
  note_in_queue: [409, "The note is back in the queue (replayed or retrying); it can no longer be discarded."],
  body_too_large: [413, "The body is too large."],
  unsupported_media_type: [415, "Send the body as application/json."],
  internal_error: [500, "Something went wrong on our side."],
  not_configured: [503, "This route's secret is not set on the deliver Worker."],
  retry_later: [503, "Not now; retry after the Retry-After seconds."],
} as const satisfies Record<string, readonly [status: number, message: string]>;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;

export class HttpError extends Error {
  readonly code: HttpErrorCode;
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: HttpErrorCode,
    options: { message?: string; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(options.message ?? HTTP_ERRORS[code][1], { cause: options.cause });
    this.name = "HttpError";
    this.code = code;
    this.headers = options.headers;
  }

  get status(): (typeof HTTP_ERRORS)[HttpErrorCode][0] {
    return HTTP_ERRORS[this.code][0];
  }
}

/** Ops answers hold dead letters and counts: no cache may keep one, errors included. */
export const NO_STORE = { "cache-control": "no-store" } as const;

function errorResponse(c: Context, error: HttpError): Response {
  return c.json({ error: error.code, message: error.message }, error.status, { ...NO_STORE, ...error.headers });
}

/** Hono's `onError`: the only place an error becomes a response. Never a stack trace. */
export function onError(error: Error, c: Context): Response {
  if (error instanceof HttpError) return errorResponse(c, error);
  // The name and message only: a stack or a cause could hold request data.
  console.error(`deliver: unhandled ${error.name}: ${error.message}`);
  return errorResponse(c, new HttpError("internal_error"));
}

/** Hono's `notFound`. */
export function notFound(c: Context): Response {
  return errorResponse(c, new HttpError("not_found"));
}

/**
 * The last route of a path: the path exists, the method does not.
 *
 * @example
 * ops.all("/stats", methodNotAllowed("GET"));
 */
export function methodNotAllowed(allow: string): () => never {
  return () => {
    throw new HttpError("method_not_allowed", { message: `This path accepts ${allow}.`, headers: { allow } });
  };
}
