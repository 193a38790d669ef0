/**
 * The local provider's one error type, and the one place that turns it into the body the real API
 * would send: Resend's `{statusCode, name, message}` (https://resend.com/docs/api-reference/errors),
 * Postmark's `{ErrorCode, Message}` (https://postmarkapp.com/developer/api/overview#error-codes), an
 * edge proxy's HTML page for 502/503 (neither API answers those itself), Cloudflare's plain-text 1010
 * for a Resend request without a User-Agent (resend-contract.ts), or notepipe's
 * `{error, message}` on the control and inbox routes. A new error is one line in {@link ERRORS}.
 */

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { CLOUDFLARE_1010_BODY } from "./resend-contract.ts";

/** Which contract a route speaks; set by each router so errors take that contract's shape. */
export type Api = "resend" | "postmark" | "control";

interface ErrorSpec {
  /** Resend's HTTP status and `name`. */
  resend: [ContentfulStatusCode, string];
  /** Postmark's HTTP status and `ErrorCode`; `null`: Postmark documents no JSON body, so plain text. */
  postmark: [ContentfulStatusCode, number | null];
  /** notepipe's status on the control routes (and any API, for errors that are not the API's). */
  control: ContentfulStatusCode;
  message: string;
  /** Postmark's wording where it differs from Resend's. */
  postmarkMessage?: string;
  /**
   * Sent by what stands in front of the API, whatever the API: an HTML page (a load balancer's
   * 502/503) or plain text (Cloudflare's 1010 to a client that does not ask for HTML). The request
   * never reached the API.
   */
  edge?: "html" | "text";
}

export const ERRORS = {
  browser_signature_banned: {
    resend: [403, ""],
    postmark: [403, null],
    control: 403,
    message: CLOUDFLARE_1010_BODY,
    edge: "text",
  },
  missing_api_key: {
    resend: [401, "missing_api_key"],
    postmark: [401, 10],
    control: 401,
    message: "Missing API key in the authorization header.",
    postmarkMessage: "Request does not contain a valid Server token.",
  },
  invalid_api_key: {
    resend: [403, "invalid_api_key"],
    postmark: [401, 10],
    control: 403,
    message: "API key is invalid.",
    postmarkMessage: "Request does not contain a valid Server token.",
  },
  restricted_api_key: {
    resend: [401, "restricted_api_key"],
    postmark: [401, 10],
    control: 401,
    message: "This API key is restricted to only send emails.",
  },
  domain_not_verified: {
    resend: [403, "validation_error"],
    postmark: [422, 400],
    control: 403,
    message: "The sender's domain is not verified. Add and verify the domain first.",
  },
  unsupported_media_type: {
    resend: [400, "validation_error"],
    postmark: [415, null],
    control: 415,
    message: "The request body must be JSON, sent with `Content-Type: application/json`.",
    postmarkMessage: "Unsupported Media Type",
  },
  payload_too_large: {
    resend: [413, "validation_error"],
    postmark: [413, null],
    control: 413,
    message: "Payload Too Large",
  },
  invalid_json: { resend: [400, "validation_error"], postmark: [422, 402], control: 400, message: "Invalid JSON." },
  incompatible_json: {
    resend: [422, "validation_error"],
    postmark: [422, 403],
    control: 400,
    message: "Invalid request field(s).",
  },
  missing_required_field: {
    resend: [422, "missing_required_field"],
    postmark: [422, 300],
    control: 400,
    message: "The request body is missing one or more required fields.",
  },
  validation_error: {
    resend: [422, "validation_error"],
    postmark: [422, 300],
    control: 400,
    message: "Invalid email request.",
  },
  too_many_emails: {
    resend: [422, "validation_error"],
    postmark: [422, 410],
    control: 400,
    message: "Too many emails in one batch.",
  },
  invalid_idempotency_key: {
    resend: [400, "invalid_idempotency_key"],
    postmark: [422, 300],
    control: 400,
    message: "The key must be between 1-256 chars.",
  },
  invalid_idempotent_request: {
    resend: [409, "invalid_idempotent_request"],
    postmark: [422, 300],
    control: 409,
    message: "Same idempotency key used with a different request payload.",
  },
  concurrent_idempotent_requests: {
    resend: [409, "concurrent_idempotent_requests"],
    postmark: [422, 300],
    control: 409,
    message: "Same idempotency key used while original request is still in progress.",
  },
  rate_limit_exceeded: {
    resend: [429, "rate_limit_exceeded"],
    postmark: [429, 429],
    control: 429,
    message: "Too many requests. See the rate limit response headers.",
  },
  daily_quota_exceeded: {
    resend: [429, "daily_quota_exceeded"],
    // Postmark's spent allowance: ErrorCode 405 (postmark-contract.ts, `quota`).
    postmark: [422, 405],
    control: 429,
    message: "You have reached your daily email sending quota.",
    postmarkMessage: "Not allowed to send: you have run out of credits.",
  },
  monthly_quota_exceeded: {
    resend: [429, "monthly_quota_exceeded"],
    // Postmark's spent allowance: ErrorCode 405 (postmark-contract.ts, `quota`).
    postmark: [422, 405],
    control: 429,
    message: "You have reached your monthly email sending quota.",
    postmarkMessage: "Not allowed to send: you have run out of credits.",
  },
  internal_server_error: {
    resend: [500, "internal_server_error"],
    postmark: [500, null],
    control: 500,
    message: "An unexpected error occurred.",
  },
  bad_gateway: { resend: [502, ""], postmark: [502, null], control: 502, message: "Bad Gateway", edge: "html" },
  service_unavailable: {
    resend: [503, ""],
    postmark: [503, null],
    control: 503,
    message: "Service Temporarily Unavailable",
    edge: "html",
  },
  not_found: {
    resend: [404, "not_found"],
    postmark: [404, null],
    control: 404,
    message: "The requested endpoint does not exist.",
  },
  bad_request: { resend: [400, "validation_error"], postmark: [422, 300], control: 400, message: "Bad request." },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * Thrown anywhere in a route; `onError` shapes it for the route's API.
 *
 * @example
 * throw new ProviderError("rate_limit_exceeded", undefined, { "retry-after": "1" });
 */
export class ProviderError extends Error {
  readonly code: ErrorCode;
  readonly headers: Readonly<Record<string, string>>;
  /** Set when the message was written for this request rather than taken from the table. */
  readonly custom: boolean;
  constructor(code: ErrorCode, message?: string, headers: Record<string, string> = {}) {
    super(message ?? ERRORS[code].message);
    this.name = "ProviderError";
    this.code = code;
    this.headers = headers;
    this.custom = message !== undefined;
  }
}

/** The status a {@link ProviderError} gets under an API, for the request counters. */
export function statusOf(code: ErrorCode, api: Api): ContentfulStatusCode {
  const spec: ErrorSpec = ERRORS[code];
  return api === "control" ? spec.control : spec[api][0];
}

/** Builds the response for an error under `api`; the only place error bodies are made. */
export function errorResponse(c: Context, api: Api, error: ProviderError): Response {
  const spec: ErrorSpec = ERRORS[error.code];
  const status = statusOf(error.code, api);
  for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
  if (spec.edge === "text") return c.text(spec.message, status);
  if (spec.edge === "html") {
    // What nginx or a cloud load balancer sends: HTML, no JSON a client could lean on.
    return c.html(
      `<html><head><title>${status} ${spec.message}</title></head><body><h1>${spec.message}</h1></body></html>`,
      status,
    );
  }
  if (api === "resend") {
    return c.json({ statusCode: status, name: spec.resend[1], message: error.message }, status);
  }
  if (api === "postmark") {
    const errorCode = spec.postmark[1];
    const message = error.custom ? error.message : (spec.postmarkMessage ?? error.message);
    if (errorCode === null) return c.text(message, status);
    return c.json({ ErrorCode: errorCode, Message: message }, status);
  }
  return c.json({ error: error.code, message: error.message }, status);
}
