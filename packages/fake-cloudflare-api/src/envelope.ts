/**
 * The Cloudflare API's one response shape and its errors. Every answer is the v4 envelope
 * `{success, errors, messages, result}`, an error being `{code, message}` with the HTTP status the
 * API documents for it: https://developers.cloudflare.com/fundamentals/api/how-to/make-api-calls/
 */

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** A failure the fake answers with, in Cloudflare's error shape. */
export class CloudflareApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: number;

  constructor(status: ContentfulStatusCode, code: number, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * The errors the fake answers, each with where its code and status come from. Where Cloudflare's
 * reference gives no code, the code is the one wrangler's source tests for (it decides what wrangler
 * does next), and the source says so.
 */
export const ERRORS = {
  /** https://developers.cloudflare.com/workers/tooling/api/requests/ ("Missing auth headers") */
  missingAuth: () => new CloudflareApiError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers"),
  /** https://developers.cloudflare.com/workers/tooling/api/requests/ ("Authorization errors"): a token that does not match the account. */
  authentication: () => new CloudflareApiError(403, 10000, "Authentication error"),
  /** https://developers.cloudflare.com/workers/tooling/api/requests/ ("No route for that URI") */
  noRoute: () => new CloudflareApiError(404, 7000, "No route for that URI"),
  /** wrangler's WORKER_NOT_FOUND_ERR_CODE (packages/deploy-helpers, worker-not-found-error.ts). */
  workerNotFound: () => new CloudflareApiError(404, 10007, "This Worker does not exist on your account."),
  /** The account has no workers.dev subdomain yet: wrangler's getWorkersDevSubdomain tests for 10007. */
  noSubdomain: () => new CloudflareApiError(404, 10007, "This account does not have a workers.dev subdomain."),
  /** An upload that does not validate; wrangler reads the reason from the error's notes (code 10021). */
  invalidUpload: (reason: string) => new CloudflareApiError(400, 10021, reason),
  /** https://developers.cloudflare.com/api/resources/kv/subresources/namespaces/methods/create/: "Returns 400 if the account already owns a namespace with that title". */
  kvTitleTaken: () => new CloudflareApiError(400, 10014, "A namespace with this account ID and title already exists."),
  /** https://developers.cloudflare.com/api/resources/kv/subresources/namespaces/methods/get/ */
  kvNotFound: () => new CloudflareApiError(404, 10013, "namespace not found"),
  /** https://developers.cloudflare.com/queues/reference/error-codes/ */
  queueNameTaken: () => new CloudflareApiError(409, 11009, "A queue with this name already exists."),
  /** https://developers.cloudflare.com/queues/reference/error-codes/ */
  queueNotFound: () => new CloudflareApiError(404, 11000, "Queue does not exist."),
  /** https://developers.cloudflare.com/queues/reference/error-codes/ */
  consumerNotFound: () => new CloudflareApiError(404, 11001, "Consumer does not exist."),
  /** https://developers.cloudflare.com/queues/reference/error-codes/: one Worker consumer per queue. */
  consumerExists: () => new CloudflareApiError(409, 11004, "This queue already has a consumer."),
  /** A body the route cannot read. */
  badRequest: (reason: string) => new CloudflareApiError(400, 10001, reason),
} as const;

/** The success envelope around `result`. */
export function ok(c: Context, result: unknown, resultInfo?: Record<string, number>) {
  return c.json({
    success: true,
    errors: [],
    messages: [],
    result,
    ...(resultInfo ? { result_info: resultInfo } : {}),
  });
}

/** The error envelope; wrangler shows `errors[].message` and reads the reason of a 10021 from `notes`. */
export function failure(c: Context, error: CloudflareApiError) {
  return c.json(
    {
      success: false,
      errors: [{ code: error.code, message: error.message }],
      messages: [],
      result: null,
    },
    error.status,
  );
}

/** A JSON object body, or the API's 400. */
export async function readJson(request: Request): Promise<Record<string, unknown>> {
  try {
    const body: unknown = await request.json();
    if (typeof body === "object" && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {}
  throw ERRORS.badRequest("The request body is not a JSON object.");
}

/**
 * One page of a list, with the `result_info` wrangler pages by (`page * per_page < total_count`
 * means there is more): https://developers.cloudflare.com/fundamentals/api/how-to/make-api-calls/#pagination
 */
export function paged(c: Context, items: unknown[], limits: { defaultPerPage: number; maxPerPage: number }) {
  const page = Number(c.req.query("page") ?? 1);
  const perPage = Number(c.req.query("per_page") ?? limits.defaultPerPage);
  if (!Number.isInteger(page) || page < 1) throw ERRORS.badRequest("page must be a positive integer.");
  if (!Number.isInteger(perPage) || perPage < 1 || perPage > limits.maxPerPage) {
    throw ERRORS.badRequest(`per_page must be an integer from 1 to ${limits.maxPerPage}.`);
  }
  const slice = items.slice((page - 1) * perPage, page * perPage);
  return ok(c, slice, {
    page,
    per_page: perPage,
    count: slice.length,
    total_count: items.length,
    total_pages: Math.max(1, Math.ceil(items.length / perPage)),
  });
}
