/**
 * The one way ingest fails: routes throw {@link ApiError} with a code, {@link onError} turns it into
 * `{"error": code, "message": sentence}` with the code's status. A new code is one line in the table.
 */

import { CORS_HEADERS } from "./cors.ts";

const API_ERRORS = {
  // Frame decode errors: decodeFrame's codes, with its message.
  bad_magic: [400, "The body is not a notepipe frame."],
  unsupported_version: [400, "This frame version is not supported."],
  unsupported_flags: [400, "This frame sets flags this server does not know."],
  truncated: [400, "The frame is truncated."],
  bad_recipient: [400, "The frame's recipient is not an address this service accepts."],
  empty_ciphertext: [400, "The frame carries no ciphertext."],
  frame_too_large: [413, "A frame is at most 65536 bytes."],
  // The HTTP API.
  bad_id: [400, "A note id is a lowercase canonical UUID (8-4-4-4-12 hex digits)."],
  bad_request: [400, 'The body must be JSON: {"ids": ["<note id>", …]}.'],
  body_too_large: [413, "The body is too large."],
  unauthorized: [401, "Send Authorization: Bearer <client token>."],
  recipient_not_allowed: [403, "This client token is not valid for the frame's recipient."],
  not_found: [404, "Nothing here."],
  method_not_allowed: [405, "This method is not allowed here."],
  unsupported_media_type: [415, "This Content-Type is not accepted here."],
  rate_limited: [429, "Too many notes for this token; retry after the Retry-After seconds."],
  internal_error: [500, "Something went wrong on our side."],
  rate_limiter_unavailable: [
    503,
    "The request could not be checked against its rate limit; retry after the Retry-After seconds.",
  ],
  queue_unavailable: [503, "The note could not be queued; retry after the Retry-After seconds."],
} as const satisfies Record<string, readonly [status: number, message: string]>;

export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ApiErrorCode,
    options: { message?: string; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(options.message ?? API_ERRORS[code][1], { cause: options.cause });
    this.name = "ApiError";
    this.code = code;
    this.headers = options.headers;
  }

  get status(): (typeof API_ERRORS)[ApiErrorCode][0] {
    return API_ERRORS[this.code][0];
  }
}

/**
 * The only place an error becomes a response, for Hono's routes (`onError`) and for the hot path
 * that runs before Hono (routes/post-note.ts). Never a stack trace. An error answer is never
 * cached: a 404 status becomes a 200 once deliver writes the record.
 */
export function errorResponse(error: unknown): Response {
  if (!(error instanceof ApiError)) {
    // The name and message only: a stack or a cause could hold request data.
    console.error(
      error instanceof Error
        ? `ingest: unhandled ${error.name}: ${error.message}`
        : "ingest: unhandled non-Error throw",
    );
    return errorResponse(new ApiError("internal_error"));
  }
  return Response.json(
    { error: error.code, message: error.message },
    { status: error.status, headers: { "cache-control": "no-store", ...CORS_HEADERS, ...error.headers } },
  );
}

/** Hono's `onError`. */
export function onError(error: Error): Response {
  return errorResponse(error);
}

/** Hono's `notFound`: no route has this path under any method. */
export function notFound(): Response {
  return errorResponse(new ApiError("not_found", { message: "No route matches this path." }));
}

/**
 * The last route of a path: the path exists, the method does not.
 *
 * @example
 * app.all("/v1/notes", methodNotAllowed("POST"));
 */
export function methodNotAllowed(allow: string): () => never {
  return () => {
    throw new ApiError("method_not_allowed", { message: `This path accepts ${allow}.`, headers: { allow } });
  };
}
