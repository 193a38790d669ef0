/**
 * Postmark's batch API as its documentation states it, one row per requirement or behaviour, and
 * the figures postmark.ts and send-pipeline.ts enforce. README.md shows the rows; deliver's contract
 * test (workers/deliver/test/provider-contract-unit.test.ts) walks them.
 */

import type { ContractRow } from "./contract.ts";

const OVERVIEW = "https://postmarkapp.com/developer/api/overview";
const ERROR_CODES = "https://postmarkapp.com/developer/api/overview#error-codes";
const EMAIL_API = "https://postmarkapp.com/developer/api/email-api";
const CREDITS_RUN_OUT = "https://postmarkapp.com/support/article/936-what-happens-when-credits-run-out";
const BATCH_GUIDE = "https://postmarkapp.com/developer/user-guide/send-email-with-api/batch-emails";
const VALIDATION_NOTICE =
  "https://status.postmarkapp.com/notices/dg86plrfvy1igirt-reminder-changes-to-email-api-validation-going-live-at-1-30pm-est";
const SIZE_LIMITS = "https://postmarkapp.com/support/article/1056-what-are-the-attachment-and-email-size-limits";
const ERROR_300 = "https://postmarkapp.com/support/article/1180-what-does-errorcode-300-mean";

const MB = 1024 * 1024;

export const POSTMARK_LIMITS = {
  /** "The batch endpoint accepts up to 500 messages per API call". */
  messagesPerBatch: 500,
  /** "…and up to 50 MB payload size, including attachments." */
  batchBytes: 50 * MB,
  /** "TextBody and HtmlBody can each be up to 5 MB each." */
  bodyBytes: 5 * MB,
  /** "Total message size, including attachments, can be 10 MB." */
  messageBytes: 10 * MB,
  /** "Maximum of 50 recipients allowed per email message", To, Cc and Bcc together. */
  recipientsPerMessage: 50,
  /** `Tag`: "Max characters 1000." */
  tagChars: 1000,
} as const;

/** Postmark's `ErrorCode`s that the local provider answers with. */
export const POSTMARK_ERROR_CODES = {
  badToken: 10,
  invalidEmailRequest: 300,
  senderSignatureNotFound: 400,
  invalidJson: 402,
  incompatibleJson: 403,
  inactiveRecipient: 406,
  tooManyBatchMessages: 410,
  notAllowedToSend: 405,
  rateLimitExceeded: 429,
} as const;

export const POSTMARK_CONTRACT: readonly ContractRow[] = [
  {
    id: "accept",
    rule: "`Accept: application/json` is required; a request without the documented headers gets HTTP 415 Unsupported Media Type (its body is not documented).",
    localProvider: "415, plain text `Unsupported Media Type`, unless Accept admits `application/json`.",
    source: `${EMAIL_API}, ${VALIDATION_NOTICE}`,
  },
  {
    id: "content-type",
    rule: "`Content-Type: application/json` is required; otherwise HTTP 415.",
    localProvider: "415, plain text `Unsupported Media Type`.",
    source: `${EMAIL_API}, ${VALIDATION_NOTICE}`,
  },
  {
    id: "server-token",
    rule: "`X-Postmark-Server-Token`; a wrong or missing token: 401 with `ErrorCode` 10 (bad or missing API token).",
    localProvider: '401 `{"ErrorCode": 10, "Message"}`.',
    source: `${OVERVIEW}, ${ERROR_CODES}`,
  },
  {
    id: "user-agent",
    rule: "No `User-Agent` is asked for (the documentation is silent).",
    localProvider: "Not checked.",
    source: OVERVIEW,
  },
  {
    id: "batch-size",
    rule: `Up to ${POSTMARK_LIMITS.messagesPerBatch} messages per call; more: \`ErrorCode\` 410 (too many batch messages).`,
    localProvider: "422 with `ErrorCode` 410; an empty batch: 422 with `ErrorCode` 300.",
    source: `${BATCH_GUIDE}, ${ERROR_CODES}`,
  },
  {
    id: "batch-bytes",
    rule: "Up to 50 MB of payload per batch call; over it: 413 Payload Too Large (its body is not documented).",
    localProvider: "413, plain text `Payload Too Large`, nothing sent.",
    source: `${BATCH_GUIDE}, ${OVERVIEW}`,
  },
  {
    id: "message-bytes",
    rule: "`TextBody` and `HtmlBody` up to 5 MB each, 10 MB a message in all; how a batch answers one over it is not documented.",
    localProvider: "`ErrorCode` 300 for that message.",
    source: SIZE_LIMITS,
  },
  {
    id: "recipients",
    rule: `At most ${POSTMARK_LIMITS.recipientsPerMessage} recipients per message, To, Cc and Bcc together, comma-separated: \`ErrorCode\` 300.`,
    localProvider: "`ErrorCode` 300 for that message.",
    source: `${EMAIL_API}, ${ERROR_300}`,
  },
  {
    id: "address-form",
    rule: "`Name <email@example.com>` or a bare address; an illegal address: `ErrorCode` 300.",
    localProvider:
      "`ErrorCode` 300 for that message; addresses checked with notepipe's recipient rule, stricter than Postmark's.",
    source: `${EMAIL_API}, ${ERROR_300}`,
  },
  {
    id: "body",
    rule: "`TextBody` or `HtmlBody` (or both) is required: `ErrorCode` 300.",
    localProvider: "`ErrorCode` 300 for that message.",
    source: `${EMAIL_API}, ${ERROR_300}`,
  },
  {
    id: "tag",
    rule: `\`Tag\`: at most ${POSTMARK_LIMITS.tagChars} characters; the error over it is not documented.`,
    localProvider: "`ErrorCode` 300 for that message.",
    source: EMAIL_API,
  },
  {
    id: "per-message-results",
    rule: "200 with one result per message in request order: `ErrorCode` 0 and `Message` OK with `MessageID`, `SubmittedAt`, `To`, or the message's `ErrorCode` and `Message`.",
    localProvider: "That array, the taken messages in the inbox.",
    source: `${BATCH_GUIDE}, ${EMAIL_API}`,
  },
  {
    id: "inactive-recipient",
    rule: "`ErrorCode` 406: the recipient is inactive (hard bounce, spam complaint, manual suppression).",
    localProvider: "`ErrorCode` 406 for a message to an address it refuses (a `.invalid` domain, `bounce@`).",
    source: ERROR_CODES,
  },
  {
    id: "invalid-json",
    rule: "422 with `ErrorCode` 402: the payload is not valid JSON.",
    localProvider: "422 with `ErrorCode` 402.",
    source: `${ERROR_CODES}, ${VALIDATION_NOTICE}`,
  },
  {
    id: "incompatible-json",
    rule: "422 with `ErrorCode` 403: a request field is invalid (JSON of the wrong shape).",
    localProvider: "422 with `ErrorCode` 403 for a body that is not an array of objects.",
    source: `${ERROR_CODES}, ${VALIDATION_NOTICE}`,
  },
  {
    id: "no-idempotency",
    rule: "No idempotency keys: a request sent twice sends twice.",
    localProvider: "Every request sends again; `Idempotency-Key` is ignored.",
    source: EMAIL_API,
  },
  {
    id: "rate-limit",
    rule: "429 with `ErrorCode` 429 (rate limit exceeded); no per-second figure and no rate-limit or Retry-After headers are documented.",
    localProvider:
      "The same limit as for Resend, 5 requests per second per token by default; 429 with `ErrorCode` 429 and no such headers.",
    source: `${OVERVIEW}, ${ERROR_CODES}`,
  },
  {
    id: "error-shape",
    rule: "A 422 carries JSON `{ErrorCode, Message}`.",
    localProvider: "Every JSON error in that shape.",
    source: OVERVIEW,
  },
  {
    id: "sender-signature",
    rule: "`ErrorCode` 400 (sender signature not found), 401 (not confirmed), 412 (account pending).",
    localProvider: "422 with `ErrorCode` 400, only with the `reject` fault `domain_not_verified`.",
    source: ERROR_CODES,
  },
  {
    id: "account-may-not-send",
    rule: "`ErrorCode` 405 (not allowed to send: the account has run out of credits) and 413 (account may not send). Once credits run out, emails are refused through the API until credits are bought.",
    localProvider:
      "422 with `ErrorCode` 405, only with the `reject` faults `daily_quota_exceeded`, `monthly_quota_exceeded`; never 413.",
    source: `${ERROR_CODES}, ${CREDITS_RUN_OUT}`,
  },
  {
    id: "server-error",
    rule: "500: an error on Postmark's side; 503: planned maintenance (`ErrorCode` 100). Their bodies are not documented.",
    localProvider: "500 in plain text with the `errorRate` fault `500`; 502 and 503 as a load balancer's HTML page.",
    source: `${OVERVIEW}, ${ERROR_CODES}`,
  },
];
