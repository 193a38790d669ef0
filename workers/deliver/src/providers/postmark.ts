/**
 * Postmark: `POST /email/batch`, at most 500 messages, `X-Postmark-Server-Token`
 * (https://postmarkapp.com/developer/api/email-api#send-batch-emails). It answers 200 with one
 * result per message in request order, `ErrorCode` 0 for a message it took; a request refused as a
 * whole is a 401 or 422 with an `ErrorCode`; its 429 carries no Retry-After. It has no idempotency
 * keys. Codes: https://postmarkapp.com/developer/api/overview#error-codes.
 */

import { accepted, failed, providerDetail, type SendOutcome } from "../queue/outcomes.ts";
import { isRecord, type MailProvider, type OutgoingEmail, type ProviderReply, parseJson } from "./provider.ts";

export const postmarkProvider: MailProvider = {
  name: "postmark",
  idempotent: false,
  path: "/email/batch",
  headers(apiKey) {
    return { accept: "application/json", "content-type": "application/json", "x-postmark-server-token": apiKey };
  },
  emailJson(email: OutgoingEmail, text) {
    const { noteId, recipient } = email;
    // Template-built: the recipient passed the frame's rule (no comma, which Postmark would read
    // as a second recipient), base64 and the UUID need no escaping.
    return `{"From":${text.fromJson},"To":"${recipient}","Subject":${text.subjectJson},"TextBody":"${email.nonce.toBase64()}\\n${email.ciphertext.toBase64()}","Headers":[{"Name":"X-Notepipe-Note-Id","Value":"${noteId}"}],"Metadata":{"note_id":"${noteId}"}}`;
  },
  classify: classifyPostmarkResponse,
};

/**
 * One outcome per message of a `POST /email/batch`.
 *
 * @example
 * classifyPostmarkResponse({ status: 200, body: '[{"ErrorCode":0,"Message":"OK","MessageID":"m1"},{"ErrorCode":406,"Message":"Inactive recipient"}]', retryAfterSeconds: null }, 2);
 * // [{ kind: "accepted", providerId: "m1" }, { kind: "failed", code: "inactive_recipient", detail: "Inactive recipient" }]
 */
export function classifyPostmarkResponse(reply: ProviderReply, emailCount: number): SendOutcome[] {
  const json = parseJson(reply.body);
  const { status } = reply;
  if (status >= 200 && status < 300) {
    if (!Array.isArray(json) || json.length !== emailCount) {
      const outcome = failed("possibly_sent", "A 2xx answer that does not say which messages it took.");
      return Array.from({ length: emailCount }, () => outcome);
    }
    return json.map(classifyMessageResult);
  }
  let outcome: SendOutcome;
  if (status >= 500) outcome = failed("provider_unavailable", bodyDetail(json), reply.retryAfterSeconds);
  else if (status === 429) outcome = failed("rate_limited", bodyDetail(json), reply.retryAfterSeconds);
  else if (status === 401) outcome = failed("auth_failed", bodyDetail(json));
  else if (status === 415) {
    // "Check that the documented request headers are being passed (Content-Type and Accept)"
    // (https://postmarkapp.com/updates/changes-to-email-api-validation-action-may-be-required).
    outcome = failed("request_invalid", "HTTP 415: Postmark refused the request's Content-Type or Accept header.");
  } else if (status === 413) {
    // 10 MB a message, 50 MB a batch (https://postmarkapp.com/developer/api/overview#response-codes).
    outcome = failed("request_invalid", "HTTP 413: the request is over Postmark's size limit.");
  } else if (isRecord(json) && typeof json.ErrorCode === "number") {
    outcome = classifyErrorCode(json.ErrorCode, providerDetail(json.Message), "request");
  } else outcome = failed("unexpected_response", `HTTP ${status}`);
  return Array.from({ length: emailCount }, () => outcome);
}

function classifyMessageResult(result: unknown): SendOutcome {
  if (!isRecord(result) || typeof result.ErrorCode !== "number") {
    return failed("possibly_sent", "A result without an ErrorCode.");
  }
  if (result.ErrorCode === 0) {
    return typeof result.MessageID === "string" && result.MessageID !== ""
      ? accepted(result.MessageID)
      : failed("possibly_sent", "ErrorCode 0 without a MessageID.");
  }
  return classifyErrorCode(result.ErrorCode, providerDetail(result.Message), "message");
}

/** Postmark's ErrorCode, for one message of a 200 or for a whole refused request. */
function classifyErrorCode(code: number, detail: string | undefined, scope: "message" | "request"): SendOutcome {
  const said = detail ?? `ErrorCode ${code}`;
  switch (code) {
    case 10: // Bad or missing API token
      return failed("auth_failed", said);
    case 100: // Maintenance
      return failed("provider_unavailable", said);
    case 300: // Invalid email request: also what an unverified From address gets
      if (/'from'|sender signature/i.test(said)) return failed("sender_not_verified", said);
      return scope === "message" ? failed("rejected", said) : failed("request_invalid", said);
    case 400: // Sender signature not found
    case 401: // Sender signature not confirmed
    case 412: // Account is pending: only recipients at the sender's own domain
      return failed("sender_not_verified", said);
    case 402: // Invalid JSON
    case 403: // Incompatible JSON
    case 409: // JSON required
    case 410: // Too many batch messages
      return failed("request_invalid", said);
    case 405: // Not allowed to send: the account ran out of credits
    case 413: // Account may not send
      return failed("quota_exceeded", said);
    case 406: // Inactive recipient: hard bounce, spam complaint or manual suppression
      // A whole request refused for one recipient would be new: dead-lettering the batch for it is not.
      return scope === "message" ? failed("inactive_recipient", said) : failed("unexpected_response", said);
    case 429: // Rate limit exceeded
      return failed("rate_limited", said);
    default:
      return scope === "message" ? failed("rejected", said) : failed("unexpected_response", said);
  }
}

/** Postmark's 5xx and 429 may be plain text or HTML; only its JSON carries a message worth keeping. */
function bodyDetail(json: unknown): string | undefined {
  return isRecord(json) ? providerDetail(json.Message) : undefined;
}
