/**
 * Cloudflare Email Service's `send_email` binding as its documentation states it, one row per
 * requirement or behaviour, and the figures cloudflare-email.ts enforces. README.md shows the rows;
 * deliver's test of its Cloudflare provider (workers/deliver/test/cloudflare-provider-unit.test.ts)
 * walks them.
 */

import type { ContractRow } from "./contract.ts";

const WORKERS_API = "https://developers.cloudflare.com/email-service/api/send-emails/workers-api/";
const LIMITS = "https://developers.cloudflare.com/email-service/platform/limits/";
const HEADERS = "https://developers.cloudflare.com/email-service/reference/headers/";
const SEND_BINDINGS = "https://developers.cloudflare.com/email-service/configuration/send-bindings/";
const MINIFLARE =
  "https://github.com/cloudflare/workers-sdk/blob/main/packages/miniflare/src/workers/email/send_email.worker.ts";

/** The figures the stand-in enforces, from the pages above. */
export const CLOUDFLARE_EMAIL_LIMITS = {
  /** "Recipients (to, cc, bcc): 50 per email, combined across all recipient fields." */
  recipients: 50,
  /** "Subject line: 998 characters." */
  subjectChars: 998,
  /** "Total message size: 5 MiB, including attachments" (25 MiB to verified destinations only). */
  messageBytes: 5 * 1024 * 1024,
  verifiedMessageBytes: 25 * 1024 * 1024,
  /** "Max header value length: 2,048 bytes"; "Total custom headers payload: 16 KB". */
  headerValueBytes: 2048,
  headersBytes: 16 * 1024,
  headerNameBytes: 100,
} as const;

/** The `code` of every error the binding documents; `send()` throws an Error carrying one. */
export const CLOUDFLARE_EMAIL_ERROR_CODES = [
  "E_VALIDATION_ERROR",
  "E_FIELD_MISSING",
  "E_TOO_MANY_RECIPIENTS",
  "E_SENDER_NOT_VERIFIED",
  "E_RECIPIENT_NOT_ALLOWED",
  "E_RECIPIENT_SUPPRESSED",
  "E_SENDER_DOMAIN_NOT_AVAILABLE",
  "E_CONTENT_TOO_LARGE",
  "E_DELIVERY_FAILED",
  "E_RATE_LIMIT_EXCEEDED",
  "E_DAILY_LIMIT_EXCEEDED",
  "E_INTERNAL_SERVER_ERROR",
  "E_HEADER_NOT_ALLOWED",
  "E_HEADER_USE_API_FIELD",
  "E_HEADER_VALUE_INVALID",
  "E_HEADER_VALUE_TOO_LONG",
  "E_HEADER_NAME_INVALID",
  "E_HEADERS_TOO_LARGE",
  "E_HEADERS_TOO_MANY",
] as const;

export type CloudflareEmailErrorCode = (typeof CLOUDFLARE_EMAIL_ERROR_CODES)[number];

export const CLOUDFLARE_EMAIL_CONTRACT: readonly ContractRow[] = [
  {
    id: "binding",
    rule: "A `[[send_email]]` binding in the Wrangler configuration; its `send()` takes a structured message (`EmailMessageBuilder`) or a raw `EmailMessage`.",
    localProvider:
      "`send()` of a structured message; a raw `EmailMessage` is refused with `E_VALIDATION_ERROR` (deliver never sends one).",
    source: WORKERS_API,
  },
  {
    id: "result",
    rule: "`send()` resolves to `{ messageId }`, the email's unique id.",
    localProvider:
      '`{ messageId: "<36 letters and digits@sender domain>" }`, the form Miniflare gives production\'s ids.',
    source: `${WORKERS_API}, ${MINIFLARE}`,
  },
  {
    id: "errors",
    rule: "Errors are thrown as standard `Error` objects with a `code` property (`E_…`).",
    localProvider: "Every refusal is an `Error` with its `code` and the table's description as message.",
    source: WORKERS_API,
  },
  {
    id: "required-fields",
    rule: "`to`, `from` and `subject` are required: `E_FIELD_MISSING`.",
    localProvider: "`E_FIELD_MISSING` when one is absent or empty.",
    source: WORKERS_API,
  },
  {
    id: "body",
    rule: "`html` and `text` are each optional; an email with neither is not documented.",
    localProvider: "Stricter: `E_VALIDATION_ERROR` without `text` or `html` (notepipe always sends `text`).",
    source: WORKERS_API,
  },
  {
    id: "address-form",
    rule: "An invalid email format: `E_VALIDATION_ERROR`. Addresses are strings or `{ email, name }`.",
    localProvider:
      "`E_VALIDATION_ERROR` unless each address is `local@domain` (bare, `Name <…>` or `{ email, name }`).",
    source: WORKERS_API,
  },
  {
    id: "recipients",
    rule: "At most 50 recipients across `to`, `cc` and `bcc`: `E_TOO_MANY_RECIPIENTS`.",
    localProvider: "`E_TOO_MANY_RECIPIENTS` over 50.",
    source: `${WORKERS_API}, ${LIMITS}`,
  },
  {
    id: "subject",
    rule: "A subject line of at most 998 characters (RFC 5322); the error over it is not documented.",
    localProvider: "`E_VALIDATION_ERROR` over 998 characters.",
    source: LIMITS,
  },
  {
    id: "size",
    rule: "At most 5 MiB in all (25 MiB to verified destination addresses): `E_CONTENT_TOO_LARGE`.",
    localProvider:
      "`E_CONTENT_TOO_LARGE` over 5 MiB of subject, bodies and headers (25 MiB to a verified destination).",
    source: `${LIMITS}, ${WORKERS_API}`,
  },
  {
    id: "sender",
    rule: "The sender's domain must be onboarded and verified: `E_SENDER_NOT_VERIFIED`, `E_SENDER_DOMAIN_NOT_AVAILABLE`; a binding may allow only `allowed_sender_addresses`.",
    localProvider:
      "`E_SENDER_NOT_VERIFIED` unless `from` is at one of its `senderDomains` (and in `allowedSenders`, when set).",
    source: `${WORKERS_API}, ${SEND_BINDINGS}`,
  },
  {
    id: "destinations",
    rule: "Before a sending domain is onboarded, only verified destination addresses of the account may receive; a binding may allow only `allowed_destination_addresses`: `E_RECIPIENT_NOT_ALLOWED`.",
    localProvider:
      "`E_RECIPIENT_NOT_ALLOWED` for a recipient not in `verifiedDestinations`, unless started with `onboarded: true`.",
    source: `${LIMITS}, ${WORKERS_API}, ${SEND_BINDINGS}`,
  },
  {
    id: "suppressed",
    rule: "A recipient on the suppression list (bounced, complained): `E_RECIPIENT_SUPPRESSED`.",
    localProvider:
      "`E_RECIPIENT_SUPPRESSED` for every `bounce@…` mailbox and every address under `.invalid`, as the HTTP stand-in refuses them.",
    source: WORKERS_API,
  },
  {
    id: "headers",
    rule: "Custom headers: `X-` names (`X-[A-Za-z0-9-_]+`, at most 100 bytes) or the allowlist; platform ones (`Date`, `Message-ID`, …) `E_HEADER_NOT_ALLOWED`; `From`, `To`, `Subject`, … `E_HEADER_USE_API_FIELD`; a value of at most 2,048 bytes, not empty, no CR or LF; 16 KB in all.",
    localProvider:
      "X- headers only (stricter: the allowlist is refused with `E_HEADER_NOT_ALLOWED`); each rule with its code.",
    source: HEADERS,
  },
  {
    id: "rate-limit",
    rule: "Past the sending rate: `E_RATE_LIMIT_EXCEEDED`; no rate is documented.",
    localProvider: "Only when a test says so (`failNext`).",
    source: WORKERS_API,
  },
  {
    id: "daily-limit",
    rule: "A per-account daily quota, its figure not documented: `E_DAILY_LIMIT_EXCEEDED`. Sends to verified destination addresses do not count toward it.",
    localProvider:
      "After `dailyLimit` sends to addresses that are not verified destinations in its day (no limit unless set, since no figure is documented).",
    source: `${WORKERS_API}, ${LIMITS}`,
  },
  {
    id: "delivery-failed",
    rule: "`E_DELIVERY_FAILED`: the email could not be delivered (SMTP failure, the recipient's server refused).",
    localProvider: "Only when a test says so (`failNext`).",
    source: WORKERS_API,
  },
  {
    id: "internal-error",
    rule: "`E_INTERNAL_SERVER_ERROR`: the Email Service is temporarily unavailable. Whether the email went out is not documented.",
    localProvider:
      "Only when a test says so (`failNext`), before sending; `loseNextAnswer` sends and then throws an `Error` without a code, as a broken connection to the service would.",
    source: WORKERS_API,
  },
  {
    id: "idempotency",
    rule: "No idempotency key is documented: a `send()` repeated sends again.",
    localProvider: "Every call that is not refused sends.",
    source: WORKERS_API,
  },
  {
    id: "subrequests",
    rule: "Through the binding, each send counts among the invocation's subrequests (the limits page: 50 per request, with the Worker's other calls).",
    localProvider: "Counts its calls (`calls`), for a test to check deliver's bound.",
    source: `${LIMITS}, https://developers.cloudflare.com/workers/platform/limits/`,
  },
];
