/**
 * The one way deliver's HTTP routes (ops, webhooks) fail: they throw {@link HttpError} with a code,
 * {@link onError} turns it into `{"error": code, "message": sentence}` with the code's status
 * (@notepipe/http, as ingest does). The codes are the ops API's contract with `pnpm ops`:
 * @notepipe/pipeline's DELIVER_ERRORS, where a new code is one line.
 */

import { HttpError as CodedHttpError, errorResponder, type HttpErrorOptions } from "@notepipe/http";
import { DELIVER_ERRORS, type DeliverErrorCode } from "@notepipe/pipeline";

/** @notepipe/http's error with deliver's codes. */
export class HttpError extends CodedHttpError<DeliverErrorCode> {
  constructor(code: DeliverErrorCode, options: HttpErrorOptions = {}) {
    super(code, DELIVER_ERRORS[code], options);
  }
}

/** Ops answers hold dead letters and counts: no cache may keep one, errors included. */
export const NO_STORE = { "cache-control": "no-store" } as const;

const errorResponse = errorResponder({
  who: "deliver",
  headers: NO_STORE,
  internalError: () => new HttpError("internal_error"),
});

/** Hono's `onError`: the only place an error becomes a response. */
export function onError(error: Error): Response {
  return errorResponse(error);
}

/** Hono's `notFound`. */
export function notFound(): Response {
  return errorResponse(new HttpError("not_found"));
}
