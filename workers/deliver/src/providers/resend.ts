/**
 * Resend: `POST /emails/batch`, at most 100 emails, bearer auth
 * (https://resend.com/docs/api-reference/emails/send-batch-emails). `x-batch-validation: permissive`
 * sends the valid emails of a batch and lists the others in `errors[{index, message}]`, so one bad
 * address does not hold back 99 notes. Error names: https://resend.com/docs/api-reference/errors.
 */

import { accepted, failed, providerDetail, type SendOutcome } from "../queue/outcomes.ts";
import { isRecord, type MailProvider, type OutgoingEmail, type ProviderReply, parseJson } from "./provider.ts";

export const resendProvider: MailProvider = {
  name: "resend",
  idempotent: true,
  path: "/emails/batch",
  headers(apiKey, requestKey) {
    return {
      authorization: `Bearer ${apiKey}`,
      "content-type": "application/json",
      "x-batch-validation": "permissive",
      // One key for the whole batch, kept 24 hours (https://resend.com/docs/dashboard/emails/idempotency-keys).
      "idempotency-key": requestKey,
    };
  },
  emailJson(email: OutgoingEmail, text) {
    const { noteId, recipient } = email;
    // Template-built: the recipient passed the frame's rule, base64 and the UUID need no escaping.
    return `{"from":${text.fromJson},"to":["${recipient}"],"subject":${text.subjectJson},"text":"${email.nonce.toBase64()}\\n${email.ciphertext.toBase64()}","headers":{"X-Notepipe-Note-Id":"${noteId}"},"tags":[{"name":"note_id","value":"${noteId}"}]}`;
  },
  classify: classifyResendResponse,
};

/**
 * One outcome per email of a `POST /emails/batch` sent with `x-batch-validation: permissive`.
 *
 * @example
 * classifyResendResponse({ status: 200, body: '{"data":[{"id":"e1"}],"errors":[{"index":1,"message":"Invalid `to` field."}]}', retryAfterSeconds: null }, 2);
 * // [{ kind: "accepted", providerId: "e1" }, { kind: "failed", code: "rejected", detail: "Invalid `to` field." }]
 */
export function classifyResendResponse(reply: ProviderReply, emailCount: number): SendOutcome[] {
  const json = parseJson(reply.body);
  if (reply.status >= 200 && reply.status < 300) return mapPermissiveBatch(json, emailCount);
  const name = isRecord(json) && typeof json.name === "string" ? json.name : "";
  const detail = isRecord(json) ? providerDetail(json.message) : undefined;
  const outcome =
    reply.status === 403 && name === ""
      ? failed("request_invalid", edgeRefusalDetail(reply.body))
      : classifyResendError(reply.status, name, detail, reply.retryAfterSeconds);
  return Array.from({ length: emailCount }, () => outcome);
}

/**
 * A 403 without Resend's JSON came from Cloudflare in front of the API, which never saw the request:
 * error 1010 is its answer to a request without a User-Agent
 * (https://resend.com/docs/knowledge-base/403-error-1010). No note is at fault, and neither is the key.
 */
function edgeRefusalDetail(body: string): string {
  const code = /\b(?:error code:?|error)\s*(1\d{3})\b/i.exec(body)?.[1];
  return `Refused in front of the API, before it saw the request (Cloudflare error ${code ?? "page"}); a missing User-Agent gets error 1010: check MAIL_USER_AGENT.`;
}

function classifyResendError(status: number, name: string, detail: string | undefined, retryAfter: number | null) {
  if (status >= 500) return failed("provider_unavailable", detail, retryAfter);
  switch (status) {
    case 401: // missing_api_key, restricted_api_key
      return failed("auth_failed", detail);
    case 403:
      // validation_error: "You can only send testing emails to your own email address" or the
      // domain is not verified; invalid_from_address likewise. invalid_api_key: the key itself.
      return name === "validation_error" || name === "invalid_from_address"
        ? failed("sender_not_verified", detail)
        : failed("auth_failed", detail);
    case 409:
      if (name === "concurrent_idempotent_requests") return failed("request_in_progress", detail, retryAfter);
      // The key was used with another body: that request went through, and may have held this note.
      if (name === "invalid_idempotent_request") return failed("possibly_sent", detail);
      return failed("unexpected_response", detail ?? `HTTP 409 ${name}`);
    case 429:
      if (name === "daily_quota_exceeded" || name === "monthly_quota_exceeded") {
        return failed("quota_exceeded", detail, retryAfter);
      }
      return failed("rate_limited", detail, retryAfter);
    case 400: // validation_error, invalid_idempotency_key: the request as built, not one note
    case 404: // not_found: MAIL_API_URL points elsewhere
    case 405: // method_not_allowed
    case 422: // validation_error, missing_required_field, invalid_parameter, invalid_access
      return failed("request_invalid", detail ?? `HTTP ${status} ${name}`.trim());
    default:
      return failed("unexpected_response", detail ?? `HTTP ${status} ${name}`.trim());
  }
}

/**
 * `data` holds the created emails in request order, skipping the indexes listed in `errors`. A
 * 2xx that cannot be mapped back to the request is not a failure: the provider took something, so
 * every email not named in `errors` is possibly sent.
 */
function mapPermissiveBatch(json: unknown, emailCount: number): SendOutcome[] {
  const rejected = new Map<number, string | undefined>();
  let readable = isRecord(json) && Array.isArray(json.data);
  if (isRecord(json) && json.errors !== undefined && json.errors !== null) {
    if (!Array.isArray(json.errors)) readable = false;
    else {
      for (const entry of json.errors) {
        const index = isRecord(entry) ? entry.index : undefined;
        if (typeof index === "number" && Number.isInteger(index) && index >= 0 && index < emailCount) {
          rejected.set(index, providerDetail((entry as Record<string, unknown>).message));
        } else readable = false;
      }
    }
  }
  const data = isRecord(json) && Array.isArray(json.data) ? json.data : [];
  if (data.length + rejected.size !== emailCount) readable = false;

  const outcomes: SendOutcome[] = [];
  let next = 0;
  for (let i = 0; i < emailCount; i++) {
    if (rejected.has(i)) {
      outcomes.push(failed("rejected", rejected.get(i)));
      continue;
    }
    const entry = readable ? data[next++] : undefined;
    const id = isRecord(entry) ? entry.id : undefined;
    outcomes.push(
      typeof id === "string" && id !== ""
        ? accepted(id)
        : failed("possibly_sent", "A 2xx answer that does not say which emails it created."),
    );
  }
  return outcomes;
}
