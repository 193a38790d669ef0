/**
 * Resend's send API as its documentation states it, one row per requirement or behaviour, and the
 * figures resend.ts and send-pipeline.ts enforce. README.md shows the rows; deliver's contract test
 * (workers/deliver/test/provider-contract-unit.test.ts) walks them.
 */

import type { ContractRow } from "./contract.ts";

const INTRODUCTION = "https://resend.com/docs/api-reference/introduction";
const ERRORS = "https://resend.com/docs/api-reference/errors";
const SEND_EMAIL = "https://resend.com/docs/api-reference/emails/send-email";
const SEND_BATCH = "https://resend.com/docs/api-reference/emails/send-batch-emails";
const VALIDATION_MODES = "https://resend.com/changelog/batch-validation-modes";
const IDEMPOTENCY = "https://resend.com/docs/dashboard/emails/idempotency-keys";
const RATE_LIMIT = "https://resend.com/docs/api-reference/rate-limit";
const ERROR_1010 = "https://resend.com/docs/knowledge-base/403-error-1010";
const CLOUDFLARE_1010 =
  "https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-1xxx-errors/error-1010/";
/** An API client's report of the body (no Cloudflare page gives it). */
const REPORTED_1010 = "https://github.com/cth9191/higgsfield-api-skill/issues/1";
const OPENAPI = "https://github.com/resend/resend-openapi/blob/main/resend.yaml";

export const RESEND_LIMITS = {
  /** "Trigger up to 100 batch emails at once." */
  emailsPerBatch: 100,
  /** `to`: "Max 50." */
  recipientsPerEmail: 50,
  /** Tag names and values: "no more than 256 characters". */
  tagPartChars: 256,
  /** "Idempotency keys can be up to 256 characters." */
  idempotencyKeyChars: 256,
  /** "…already been sent in the last 24 hours." */
  idempotencyWindowMs: 24 * 60 * 60 * 1000,
  /** "The default maximum rate limit is 5 requests per second per team." */
  requestsPerSecond: 5,
} as const;

/** Fields the batch endpoint does not take: "The attachments and scheduled_at fields are not supported yet." */
export const RESEND_BATCH_UNSUPPORTED_FIELDS = ["attachments", "scheduled_at"] as const;

/**
 * What Cloudflare, in front of the API, answers a request without a User-Agent: error 1010, as plain
 * text to a client that does not ask for HTML. Cloudflare documents the error, not this body; the
 * body is the one reported by API clients that met it.
 */
export const CLOUDFLARE_1010_BODY = "error code: 1010";

export const RESEND_CONTRACT: readonly ContractRow[] = [
  {
    id: "user-agent",
    rule: "All API requests must include a `User-Agent` header; requests without it are rejected with a 403.",
    localProvider:
      "403 with Cloudflare's 1010 answer (next row) for a missing or blank User-Agent, before the API key is read; it is not counted by the rate limit.",
    source: INTRODUCTION,
  },
  {
    id: "edge-1010",
    rule: "The 403 is Cloudflare's error 1010 (banned browser signature), sent before the request reaches the API. Cloudflare documents the error, not a body for API clients; the ones that met it report a plain-text `error code: 1010`.",
    localProvider: `403, \`content-type: text/plain\`, body \`${CLOUDFLARE_1010_BODY}\`: never Resend's JSON.`,
    source: `${ERROR_1010}, ${CLOUDFLARE_1010}, ${REPORTED_1010}`,
  },
  {
    id: "authorization",
    rule: "`Authorization: Bearer re_…`; without it: 401 `missing_api_key`.",
    localProvider: "401 `missing_api_key`.",
    source: `${INTRODUCTION}, ${ERRORS}`,
  },
  {
    id: "api-key",
    rule: "A key that is not valid: 403 `invalid_api_key`.",
    localProvider: "403 `invalid_api_key` for a key it was not started with.",
    source: ERRORS,
  },
  {
    id: "content-type",
    rule: "Bodies are JSON, sent with `Content-Type: application/json`; what a request without it gets is not documented.",
    localProvider: "400 `validation_error` unless the content type is `application/json`.",
    source: SEND_BATCH,
  },
  {
    id: "accept",
    rule: "No `Accept` header is asked for (the documentation is silent).",
    localProvider: "Not checked.",
    source: INTRODUCTION,
  },
  {
    id: "batch-size",
    rule: `\`POST /emails/batch\` takes up to ${RESEND_LIMITS.emailsPerBatch} emails; the error for more is not documented.`,
    localProvider: "422 `validation_error` for an empty batch or one over 100, nothing sent.",
    source: `${SEND_BATCH}, ${OPENAPI}`,
  },
  {
    id: "batch-bytes",
    rule: "No limit on the bytes of a batch request or of one email is documented for the API.",
    localProvider: "None enforced (deliver's largest batch is about 9 MB).",
    source: SEND_BATCH,
  },
  {
    id: "batch-fields",
    rule: "In a batch, the `attachments` and `scheduled_at` fields are not supported.",
    localProvider: "That email is invalid: 422 `validation_error` (strict) or an `errors` entry (permissive).",
    source: SEND_BATCH,
  },
  {
    id: "required-fields",
    rule: "`from`, `to` and `subject` are required: 422 `missing_required_field`.",
    localProvider: "422 `missing_required_field` naming the field.",
    source: `${SEND_EMAIL}, ${ERRORS}`,
  },
  {
    id: "body",
    rule: "`html` and `text` are each optional (a template may stand in); an email with neither is not documented.",
    localProvider: "Stricter: 422 `missing_required_field` without `text` or `html` (notepipe always sends `text`).",
    source: `${SEND_EMAIL}, ${OPENAPI}`,
  },
  {
    id: "recipients",
    rule: `\`to\`: one address, or an array of 1 to ${RESEND_LIMITS.recipientsPerEmail}.`,
    localProvider: "422 `validation_error` for none or more than 50.",
    source: `${SEND_EMAIL}, ${OPENAPI}`,
  },
  {
    id: "address-form",
    rule: "Addresses are `email@example.com` or `Name <email@example.com>`.",
    localProvider:
      "422 `validation_error` otherwise; the address inside is checked with notepipe's own recipient rule, stricter than Resend's.",
    source: `${SEND_EMAIL}, ${ERRORS}`,
  },
  {
    id: "tags",
    rule: `Tag names and values: ASCII letters, digits, \`_\` and \`-\` only, at most ${RESEND_LIMITS.tagPartChars} characters.`,
    localProvider: "422 `validation_error` for any other tag.",
    source: `${SEND_EMAIL}, ${OPENAPI}`,
  },
  {
    id: "strict-validation",
    rule: "`x-batch-validation: strict` (the default): the batch is sent only if every email is valid.",
    localProvider:
      "The first invalid email's error for the whole batch (status and name as for a single email), nothing sent.",
    source: VALIDATION_MODES,
  },
  {
    id: "permissive-validation",
    rule: "`x-batch-validation: permissive`: valid emails are sent, the invalid ones listed in `errors` as `{index, message}` beside `data`.",
    localProvider:
      "200 `{data: [{id}], errors: [{index, message}]}`, `data` in request order without the failed indexes.",
    source: VALIDATION_MODES,
  },
  {
    id: "validation-mode-value",
    rule: "Any other `x-batch-validation` value: not documented.",
    localProvider: "422 `validation_error`.",
    source: VALIDATION_MODES,
  },
  {
    id: "idempotency-key",
    rule: `\`Idempotency-Key\` up to ${RESEND_LIMITS.idempotencyKeyChars} characters; otherwise 400 \`invalid_idempotency_key\` ("between 1-256 chars").`,
    localProvider: "400 `invalid_idempotency_key` for an empty or longer key.",
    source: `${IDEMPOTENCY}, ${ERRORS}`,
  },
  {
    id: "idempotency-replay",
    rule: "The same key within 24 hours: the same response, and the email is not sent again.",
    localProvider: "The first answer byte for byte, nothing sent, for 24 hours.",
    source: IDEMPOTENCY,
  },
  {
    id: "idempotency-payload",
    rule: "The same key with a different payload: 409 `invalid_idempotent_request`.",
    localProvider: "409 `invalid_idempotent_request` (method, path, validation mode and raw body compared).",
    source: `${IDEMPOTENCY}, ${ERRORS}`,
  },
  {
    id: "idempotency-concurrent",
    rule: "The same key while the first request is still in progress: 409 `concurrent_idempotent_requests`.",
    localProvider: "409 `concurrent_idempotent_requests`.",
    source: `${IDEMPOTENCY}, ${ERRORS}`,
  },
  {
    id: "idempotency-refused",
    rule: "Whether a refused request (4xx, 5xx) uses up its key is not documented.",
    localProvider: "Only a 2xx is kept: a refused request leaves its key free for a retry.",
    source: IDEMPOTENCY,
  },
  {
    id: "idempotency-scope",
    rule: "Whether keys are kept per API key or per team is not documented.",
    localProvider: "Per API key (one key is one team here).",
    source: IDEMPOTENCY,
  },
  {
    id: "rate-limit",
    rule: `${RESEND_LIMITS.requestsPerSecond} requests per second per team by default, across all its API keys; past it, 429 \`rate_limit_exceeded\`.`,
    localProvider:
      "5 requests per second per API key by default (`--rate-limit`), in one-second windows; 429 `rate_limit_exceeded`.",
    source: `${RATE_LIMIT}, ${ERRORS}`,
  },
  {
    id: "rate-limit-headers",
    rule: "Every answer carries `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset` (seconds); `retry-after` says how long to wait.",
    localProvider: "All three on every answer past the edge; `retry-after` on a 429.",
    source: RATE_LIMIT,
  },
  {
    id: "quota",
    rule: "A used-up daily or monthly email quota: 429 `daily_quota_exceeded` / `monthly_quota_exceeded`.",
    localProvider: "Only with the `reject` fault set to `daily_quota_exceeded` or `monthly_quota_exceeded`.",
    source: `${ERRORS}, ${RATE_LIMIT}`,
  },
  {
    id: "error-shape",
    rule: "Errors are JSON `{statusCode, name, message}` with a standard HTTP status.",
    localProvider: "Every API error in that shape (the edge's answers excepted).",
    source: ERRORS,
  },
  {
    id: "restricted-key",
    rule: "401 `restricted_api_key`: the key may only send emails.",
    localProvider: "Only with the `reject` fault `restricted_api_key`.",
    source: ERRORS,
  },
  {
    id: "sender-not-verified",
    rule: "403 `validation_error`: the domain of `from` is not verified, or a testing address sends to others.",
    localProvider: "Only with the `reject` fault `domain_not_verified`.",
    source: ERRORS,
  },
  {
    id: "not-found",
    rule: "404 `not_found`: the endpoint does not exist.",
    localProvider: "404 `not_found` for any path under `/emails` it does not serve.",
    source: ERRORS,
  },
  {
    id: "method-not-allowed",
    rule: "405 `method_not_allowed`: the method is not allowed for the path.",
    localProvider: "Never: an unserved method on a path under `/emails` is 404 `not_found`.",
    source: ERRORS,
  },
  {
    id: "other-422",
    rule: "422 `invalid_attachment`, `invalid_from_address`, `invalid_access`, `invalid_parameter`, `invalid_region`.",
    localProvider: "Never: what it refuses is `validation_error` or `missing_required_field`.",
    source: ERRORS,
  },
  {
    id: "security-error",
    rule: "451 `security_error`: a possible security issue with the request.",
    localProvider: "Never.",
    source: ERRORS,
  },
  {
    id: "server-error",
    rule: "500 `internal_server_error` / `application_error`: an error on Resend's side.",
    localProvider: "500 `internal_server_error` with the `errorRate` fault `500`.",
    source: ERRORS,
  },
  {
    id: "gateway-error",
    rule: "5xx: an infrastructure error; what a proxy in front answers (502, 503) is not documented.",
    localProvider: "An HTML page, as a load balancer sends, with the `errorRate` faults `502` and `503`.",
    source: INTRODUCTION,
  },
];
