/**
 * Cloudflare Email Service: the `send_email` binding's `send()` with a structured message, one call
 * per note (https://developers.cloudflare.com/email-service/api/send-emails/workers-api/). No API
 * key and no URL: the binding is the account. Sends to the account's verified destination addresses
 * are free on every plan (https://developers.cloudflare.com/email-service/platform/limits/), which
 * suits a note-to-self deployment whose recipients are its owners.
 *
 * What one call's answer means for its note:
 *
 *   resolves `{ messageId }`                   accepted
 *   E_RECIPIENT_NOT_ALLOWED                    rejected: not a verified destination (nor in the binding's list)
 *   E_RECIPIENT_SUPPRESSED                     inactive_recipient
 *   E_DELIVERY_FAILED, E_CONTENT_TOO_LARGE      rejected: this note, as it is, will not go
 *   E_SENDER_NOT_VERIFIED, …_DOMAIN_NOT_AVAILABLE  sender_not_verified (pipeline)
 *   E_DAILY_LIMIT_EXCEEDED                     quota_exceeded (pipeline)
 *   E_RATE_LIMIT_EXCEEDED                      rate_limited
 *   E_VALIDATION_ERROR, E_FIELD_MISSING, E_HEADER…, E_TOO_MANY_RECIPIENTS
 *                                              request_invalid (pipeline): every note passed the
 *                                              frame's recipient rule, so the fault is MAIL_FROM or
 *                                              MAIL_SUBJECT
 *   E_INTERNAL_SERVER_ERROR                    provider_unavailable: maybe sent
 *   anything else thrown (no code, a broken
 *   connection to the service, an unknown code) network_error: maybe sent
 *   no answer within the request's time        timeout: maybe sent
 *
 * A "maybe sent" note is what an unanswered HTTP request is to the ledger. The service has no
 * idempotency key (`idempotent: false`), so, as with Postmark, the ledger sends it again only
 * here, never through another provider: it may arrive twice from this service, and once its
 * deliveries run out it is a `possibly_sent` dead letter (workers/deliver/README.md, "Failover").
 *
 * Bounds. Every call is a subrequest of the invocation (the limits page counts "email send
 * operations" among a Worker's subrequests; https://developers.cloudflare.com/workers/platform/limits/
 * counts calls to Cloudflare services), as is each note's KV status write: a batch of 100 notes costs
 * 100 calls here, 100 KV puts and the ledger's few calls, about 205 of the 1,000 a paid invocation may
 * make, and no CPU to speak of (no body is built, one small object per note). What binds is time: the
 * ledger leases a request for MAIL_TIMEOUT_SECONDS (plus slack), and past its lease another
 * invocation may take the same notes, so every call of a request starts within that time, at most
 * {@link PARALLEL_SENDS} at once (a Worker's 6 simultaneous outgoing connections). A note whose
 * call was not started in time, or after the service refused a call for every note (rate, quota,
 * sender, settings) or failed (an outage), is not sent now and waits as after a 429: nothing of it
 * reached the service.
 */

import {
  accepted,
  classOf,
  type FailedOutcome,
  failed,
  isAmbiguous,
  providerDetail,
  type SendOutcome,
} from "../queue/outcomes.ts";
import { isRecord, type MailProvider, type OutgoingEmail, type SendSettings } from "./provider.ts";

/** The `[[send_email]]` binding's name in wrangler.deliver.toml. */
export const CLOUDFLARE_BINDING = "EMAIL";
/** A Worker's simultaneous outgoing connections (https://developers.cloudflare.com/workers/platform/limits/). */
export const PARALLEL_SENDS = 6;

/** The error code a refusal of the whole service carries, per `code` (workers-api, "Error codes"). */
const REFUSALS: Readonly<Record<string, () => FailedOutcome>> = {
  E_RECIPIENT_NOT_ALLOWED: () =>
    failed("rejected", "Not a verified destination address of the account, nor one the binding allows."),
  E_RECIPIENT_SUPPRESSED: () => failed("inactive_recipient"),
  E_DELIVERY_FAILED: () => failed("rejected", "The recipient's mail server refused it."),
  E_CONTENT_TOO_LARGE: () => failed("rejected", "Over the service's message size limit."),
  E_SENDER_NOT_VERIFIED: () => failed("sender_not_verified"),
  E_SENDER_DOMAIN_NOT_AVAILABLE: () => failed("sender_not_verified", "The sender's domain is not onboarded."),
  E_DAILY_LIMIT_EXCEEDED: () => failed("quota_exceeded"),
  E_RATE_LIMIT_EXCEEDED: () => failed("rate_limited"),
  E_INTERNAL_SERVER_ERROR: () => failed("provider_unavailable"),
};
const SETTINGS_CODES =
  /^E_(?:VALIDATION_ERROR|FIELD_MISSING|TOO_MANY_RECIPIENTS|TOO_MANY_ATTACHMENTS|HEADERS?_[A-Z_]+)$/;

/**
 * One outcome for what `send()` threw.
 *
 * @example
 * classifyCloudflareError(Object.assign(new Error("Daily limit exceeded"), { code: "E_DAILY_LIMIT_EXCEEDED" }));
 * // { kind: "failed", code: "quota_exceeded", detail: "Daily limit exceeded" }
 */
export function classifyCloudflareError(error: unknown): FailedOutcome {
  const code = isRecord(error) && typeof error.code === "string" ? error.code : "";
  const said = isRecord(error) ? providerDetail(error.message) : undefined;
  const known = Object.hasOwn(REFUSALS, code) ? REFUSALS[code] : undefined;
  if (known !== undefined) {
    const outcome = known();
    return said === undefined || outcome.detail !== undefined ? outcome : failed(outcome.code, said);
  }
  if (SETTINGS_CODES.test(code)) return failed("request_invalid", `${code}: ${said ?? ""}`.trim());
  // Thrown without a documented code: the call may have reached the service and sent.
  const named = isRecord(error) && typeof error.name === "string" ? error.name : "Error";
  return failed("network_error", providerDetail(`${code || named}: ${said ?? ""}`));
}

/** Whether the rest of a request should not be tried now: the service refused or failed every note alike. */
function stopsTheRest(outcome: SendOutcome): outcome is FailedOutcome {
  if (outcome.kind === "accepted") return false;
  return outcome.code === "rate_limited" || classOf(outcome.code) === "pipeline" || isAmbiguous(outcome.code);
}

/** A note not tried: nothing of it reached the service; it waits as after a 429. */
function notTried(why: string): FailedOutcome {
  return failed("rate_limited", `Not sent to Cloudflare Email Service in this invocation: ${why}`);
}

/**
 * `Name <address>` as the binding's `{ email, name }`, the form its documentation gives for a named
 * sender (https://developers.cloudflare.com/email-service/api/send-emails/workers-api/); a bare
 * address as it is.
 */
export function senderOf(from: string): string | EmailAddress {
  const named = /^\s*"?([^"<>]*?)"?\s*<([^<>\s]+)>\s*$/.exec(from);
  return named === null ? from.trim() : { email: named[2] as string, name: (named[1] as string).trim() };
}

/** The structured message of one note: the same text and header the HTTP providers send. */
function messageOf(email: OutgoingEmail, from: string | EmailAddress, subject: string): EmailMessageBuilder {
  return {
    from,
    to: email.recipient,
    subject,
    text: `${email.nonce.toBase64()}\n${email.ciphertext.toBase64()}`,
    headers: { "X-Notepipe-Note-Id": email.noteId },
  };
}

/**
 * Sends each message with its own `send()`, {@link PARALLEL_SENDS} at a time, every call started
 * within `timeoutMs` of the first and answered within it too; one outcome per message, in order.
 * Never throws.
 */
export async function sendThroughBinding(
  binding: SendEmail,
  messages: readonly EmailMessageBuilder[],
  timeoutMs: number,
): Promise<SendOutcome[]> {
  const deadline = Date.now() + timeoutMs;
  const outcomes: SendOutcome[] = new Array(messages.length);
  let next = 0;
  let stop: FailedOutcome | undefined;
  const worker = async () => {
    for (let i = next++; i < messages.length; i = next++) {
      const left = deadline - Date.now();
      if (stop !== undefined || left <= 0) {
        outcomes[i] = notTried(stop === undefined ? "its time was up." : `an earlier call met ${stop.code}.`);
        continue;
      }
      const outcome = await sendOne(binding, messages[i] as EmailMessageBuilder, left);
      outcomes[i] = outcome;
      if (stopsTheRest(outcome)) stop ??= outcome;
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_SENDS, messages.length) }, worker));
  return outcomes;
}

async function sendOne(binding: SendEmail, message: EmailMessageBuilder, timeoutMs: number): Promise<SendOutcome> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    const result = await Promise.race([binding.send(message), timedOut]);
    if (result === "timeout") return failed("timeout");
    return isRecord(result) && typeof result.messageId === "string" && result.messageId !== ""
      ? accepted(result.messageId)
      : failed("unexpected_response", "send() resolved without a messageId.");
  } catch (error) {
    return classifyCloudflareError(error);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Cloudflare's `from` and `subject` as strings: the settings keep them JSON-encoded for the HTTP bodies. */
function plainText(settings: SendSettings): { from: string | EmailAddress; subject: string } {
  return {
    from: senderOf(JSON.parse(settings.fromJson) as string),
    subject: JSON.parse(settings.subjectJson) as string,
  };
}

/** What postBatch's Resend-shaped body holds per email, as code-emails.ts and the alerts build it. */
function messagesOfBody(body: string): EmailMessageBuilder[] | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  if (!Array.isArray(parsed)) return null;
  const messages: EmailMessageBuilder[] = [];
  for (const item of parsed) {
    if (!isRecord(item) || typeof item.from !== "string" || typeof item.subject !== "string") return null;
    const to = Array.isArray(item.to) ? item.to : [item.to];
    if (!to.every((address): address is string => typeof address === "string")) return null;
    const message: EmailMessageBuilder = { from: senderOf(item.from), to, subject: item.subject };
    if (typeof item.text === "string") message.text = item.text;
    if (typeof item.html === "string") message.html = item.html;
    if (isRecord(item.headers)) message.headers = item.headers as Record<string, string>;
    messages.push(message);
  }
  return messages;
}

/**
 * The provider deliver lists as `cloudflare`. `emailJson` and the body postBatch hands it are
 * Resend's shape (`from`, `to`, `subject`, `text`, `headers`), which maps field for field onto the
 * structured message; `path`, `headers` and `classify` are never used, since it sends itself.
 */
export const cloudflareProvider: MailProvider = {
  name: "cloudflare",
  idempotent: false,
  path: "",
  headers: () => ({}),
  emailJson(email, text) {
    return `{"from":${text.fromJson},"to":["${email.recipient}"],"subject":${text.subjectJson},"text":"${email.nonce.toBase64()}\\n${email.ciphertext.toBase64()}","headers":{"X-Notepipe-Note-Id":"${email.noteId}"}}`;
  },
  classify: (_reply, emailCount) =>
    Array.from({ length: emailCount }, () => failed("config_invalid", "Cloudflare Email Service has no HTTP answer.")),
  send(settings, emails) {
    if (settings.binding === undefined) return Promise.resolve(emails.map(() => failed("config_invalid")));
    const { from, subject } = plainText(settings);
    const messages = emails.map((email) => messageOf(email, from, subject));
    return sendThroughBinding(settings.binding, messages, settings.timeoutMs);
  },
  sendBody(settings, body, emailCount) {
    const messages = messagesOfBody(body);
    if (settings.binding === undefined || messages === null || messages.length !== emailCount) {
      return Promise.resolve(Array.from({ length: emailCount }, () => failed("config_invalid")));
    }
    return sendThroughBinding(settings.binding, messages, settings.timeoutMs);
  },
};

/**
 * The binding a deployment gave deliver for Cloudflare Email Service, or undefined: it is declared
 * only by a deployment that lists `cloudflare` (wrangler.deliver.toml, `[[send_email]]`).
 */
export function sendEmailBindingOf(env: object): SendEmail | undefined {
  const binding = (env as Record<string, unknown>)[CLOUDFLARE_BINDING];
  return isRecord(binding) && typeof binding.send === "function" ? (binding as unknown as SendEmail) : undefined;
}
