/**
 * The one interface both mail providers implement, and the one place that talks to them: build
 * the batch body, POST it with a timeout, and turn whatever comes back into one outcome per email.
 */

import { parseRetryAfter } from "../queue/backoff.ts";
import { failed, providerDetail, type SendOutcome } from "../queue/outcomes.ts";
import { paceRequest, rememberRateLimit } from "./pace.ts";

/** One note as an email. Every field is structurally safe inside JSON quotes (see `emailJson`). */
export interface OutgoingEmail {
  /** The note id, a lowercase canonical UUID. */
  noteId: string;
  /** Validated by `decodeFrame`: ASCII letters, digits and `.!#$%&'*+/=?^_{|}~-@` only. */
  recipient: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** The configured strings, already JSON-encoded (with their quotes): person-typed, never templated raw. */
export interface MailText {
  fromJson: string;
  subjectJson: string;
}

/** What came back over HTTP, before any interpretation. */
export interface ProviderReply {
  status: number;
  body: string;
  /** The Retry-After header in seconds, or null. */
  retryAfterSeconds: number | null;
}

export interface MailProvider {
  readonly name: "resend" | "postmark" | "cloudflare";
  /**
   * Whether the provider dedupes a repeated request on its `Idempotency-Key` (Resend: 24 hours).
   * Only then is a note sent again under the key of a request that went unanswered.
   */
  readonly idempotent: boolean;
  /** Appended to MAIL_API_URL. */
  readonly path: string;
  headers(apiKey: string, requestKey: string): Record<string, string>;
  emailJson(email: OutgoingEmail, text: MailText): string;
  /** Pure: one outcome per email of the request, in request order. */
  classify(reply: ProviderReply, emailCount: number): SendOutcome[];
  /**
   * A provider reached through a binding rather than over HTTP (Cloudflare Email Service,
   * cloudflare.ts) sends a request itself: the notes' emails, or a body built elsewhere in
   * Resend's shape. One outcome per email, in order; never throws.
   */
  send?(settings: SendSettings, emails: readonly OutgoingEmail[]): Promise<SendOutcome[]>;
  sendBody?(settings: BindingSettings, body: string, emailCount: number): Promise<SendOutcome[]>;
}

export interface SendSettings extends MailText {
  apiUrl: string;
  apiKey: string;
  /**
   * Sent on every request. Resend refuses a request without one with a 403 before it reaches the
   * API ("All API requests must include a User-Agent header",
   * https://resend.com/docs/api-reference/introduction#user-agent), and a Worker's fetch sends none
   * unless the code sets one.
   */
  userAgent: string;
  timeoutMs: number;
  /** The `send_email` binding, for a provider that sends through one (cloudflare.ts). */
  binding?: SendEmail;
}

/** What a provider that sends itself needs of the settings. */
export type BindingSettings = Pick<SendSettings, "binding" | "timeoutMs">;

/**
 * Sends `emails` as one batch request and answers one outcome per email, in order. Never throws:
 * a timeout or a dropped connection is an outcome like any other. Waits first, up to
 * `MAX_PACE_WAIT_MS` (10 s), if the provider's last answer said its rate-limit window is used up.
 */
export async function sendEmails(
  provider: MailProvider,
  settings: SendSettings,
  emails: readonly OutgoingEmail[],
  requestKey: string,
): Promise<SendOutcome[]> {
  if (provider.send !== undefined) return provider.send(settings, emails);
  let body = "[";
  for (let i = 0; i < emails.length; i++) {
    if (i > 0) body += ",";
    body += provider.emailJson(emails[i] as OutgoingEmail, settings);
  }
  body += "]";
  return postBatch(provider, settings, body, requestKey, emails.length);
}

/**
 * POSTs a batch body built elsewhere (the notes' above, code-emails.ts's) and answers one outcome
 * per email of it, in order. Never throws; paces first, as {@link sendEmails} says.
 */
export async function postBatch(
  provider: MailProvider,
  settings: Pick<SendSettings, "apiUrl" | "apiKey" | "userAgent" | "timeoutMs" | "binding">,
  body: string,
  requestKey: string,
  emailCount: number,
): Promise<SendOutcome[]> {
  if (provider.sendBody !== undefined) return provider.sendBody(settings, body, emailCount);
  const url = `${settings.apiUrl}${provider.path}`;
  // If the provider's last answer said its window is used up, wait for the reset (providers/pace.ts).
  await paceRequest(url);
  let reply: ProviderReply;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { ...provider.headers(settings.apiKey, requestKey), "user-agent": settings.userAgent },
      body,
      // A redirect would turn the POST into a GET elsewhere: a wrong MAIL_API_URL must fail loudly.
      redirect: "manual",
      // The timeout covers reading the answer too, so it sits in this try.
      signal: AbortSignal.timeout(settings.timeoutMs),
    });
    reply = {
      status: response.status,
      body: await response.text(),
      retryAfterSeconds: parseRetryAfter(response.headers.get("retry-after"), Date.now()),
    };
    rememberRateLimit(url, reply.status, response.headers, reply.retryAfterSeconds, Date.now());
  } catch (error) {
    const outcome = classifyTransportFailure(error);
    return Array.from({ length: emailCount }, () => outcome);
  }
  return provider.classify(reply, emailCount);
}

/** No HTTP answer at all. Either way the request may have reached the provider. */
export function classifyTransportFailure(error: unknown): SendOutcome {
  // AbortSignal.timeout() rejects with a DOMException named TimeoutError.
  const { name, message } = isRecord(error) ? error : {};
  if (name === "TimeoutError") return failed("timeout");
  return failed("network_error", typeof message === "string" ? providerDetail(`${name}: ${message}`) : undefined);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** JSON.parse that answers undefined instead of throwing: a provider's body is untrusted input. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
