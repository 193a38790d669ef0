/**
 * The one way ingest fails: routes throw {@link ApiError} with a code, {@link errorResponse} turns
 * it into `{"error": code, "message": sentence}` with the code's status (@notepipe/http). The codes
 * are the public API's, in @notepipe/pipeline's INGEST_ERRORS: a new code is one line there.
 */

import { errorResponder, HttpError, type HttpErrorOptions } from "@notepipe/http";
import { INGEST_ERRORS, type IngestErrorCode } from "@notepipe/pipeline";
import { CORS_HEADERS } from "./cors.ts";

export class ApiError extends HttpError<IngestErrorCode> {
  constructor(code: IngestErrorCode, options: HttpErrorOptions = {}) {
    super(code, INGEST_ERRORS[code], options);
    this.name = "ApiError";
  }
}

/**
 * The only place an error becomes a response, for Hono's routes (`onError`) and for the hot path
 * that runs before Hono (routes/post-note.ts). An error answer is never cached: a 404 status
 * becomes a 200 once deliver writes the record.
 */
export const errorResponse = errorResponder({
  who: "ingest",
  headers: { "cache-control": "no-store", ...CORS_HEADERS },
  internalError: () => new ApiError("internal_error"),
});

/** Hono's `onError`. */
export function onError(error: Error): Response {
  return errorResponse(error);
}

/** Hono's `notFound`: no route has this path under any method. */
export function notFound(): Response {
  return errorResponse(new ApiError("not_found", { message: "No route matches this path." }));
}
