/**
 * The one way a notepipe Worker fails over HTTP: a route throws an {@link HttpError} with a code,
 * and the Worker's one responder ({@link errorResponder}) turns it into
 * `{"error": code, "message": sentence}` with the code's status. Each Worker keeps its own table of
 * codes (ingest's is public: @notepipe/pipeline's INGEST_ERRORS) and a subclass that reads it.
 *
 * Not Hono's `HTTPException`: it carries no code and answers plain text, and ingest's hot path
 * answers without Hono.
 */

/** A code's status and default sentence, as a Worker's error table lists it. */
export type ErrorEntry = readonly [status: number, message: string];

export interface HttpErrorOptions {
  /** A more precise sentence than the table's. */
  message?: string;
  /** Sent with the answer: `Retry-After`, `Allow`, `WWW-Authenticate`. */
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * @example
 * class ApiError extends HttpError<IngestErrorCode> {
 *   constructor(code: IngestErrorCode, options?: HttpErrorOptions) {
 *     super(code, INGEST_ERRORS[code], options);
 *   }
 * }
 */
export class HttpError<Code extends string = string> extends Error {
  readonly code: Code;
  readonly status: number;
  readonly headers: Record<string, string> | undefined;

  constructor(code: Code, [status, message]: ErrorEntry, options: HttpErrorOptions = {}) {
    super(options.message ?? message, { cause: options.cause });
    this.name = "HttpError";
    this.code = code;
    this.status = status;
    this.headers = options.headers;
  }
}

/**
 * A Worker's only way from an error to a response: an {@link HttpError} as its JSON body and
 * status, with `headers` (and its own after them); anything else is logged by name and message
 * only (a stack or a cause could hold request data) and answered as `internalError()`. Never a
 * stack trace.
 *
 * @example
 * export const errorResponse = errorResponder({
 *   who: "ingest",
 *   headers: { "cache-control": "no-store" },
 *   internalError: () => new ApiError("internal_error"),
 * });
 */
export function errorResponder(options: {
  /** The Worker's name, to begin its log line. */
  who: string;
  headers: Readonly<Record<string, string>>;
  internalError: () => HttpError;
}): (error: unknown) => Response {
  const { who, headers, internalError } = options;
  return (error) => {
    let known: HttpError;
    if (error instanceof HttpError) {
      known = error;
    } else {
      console.error(
        error instanceof Error
          ? `${who}: unhandled ${error.name}: ${error.message}`
          : `${who}: unhandled non-Error throw`,
      );
      known = internalError();
    }
    return Response.json(
      { error: known.code, message: known.message },
      { status: known.status, headers: { ...headers, ...known.headers } },
    );
  };
}

/**
 * The last route of a path: the path exists, the method does not (405 `method_not_allowed`, with
 * `Allow`, RFC 9110 §15.5.6).
 *
 * @example
 * app.all("/v1/notes", methodNotAllowed("POST"));
 */
export function methodNotAllowed(allow: string): () => never {
  return () => {
    throw new HttpError("method_not_allowed", [405, `This path accepts ${allow}.`], { headers: { allow } });
  };
}
