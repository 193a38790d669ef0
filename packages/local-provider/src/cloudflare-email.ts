/**
 * A stand-in for Cloudflare Email Service's `send_email` binding, for tests inside workerd:
 * `send()` of a structured message, enforcing every row of CLOUDFLARE_EMAIL_CONTRACT
 * (cloudflare-email-contract.ts), throwing an `Error` with the documented `code` for each refusal,
 * and keeping what it sent. Miniflare's own simulation of the binding checks only a binding's
 * allowed sender and destination lists, throws errors without a `code`, and never refuses or fails
 * otherwise, so a test of what deliver does with the service's answers needs this one.
 *
 * No Node module below this file: it runs in a Worker's tests.
 */

import { type CloudflareEmailErrorCode, CLOUDFLARE_EMAIL_LIMITS as LIMITS } from "./cloudflare-email-contract.ts";
import { mailboxAddress, refusalReason } from "./recipients.ts";

/** An address as the binding takes it. */
export type CloudflareAddress = string | { email: string; name?: string };

/** The structured message `send()` takes (the runtime's `EmailMessageBuilder`), as far as the stand-in reads it. */
export interface CloudflareMessage {
  from?: CloudflareAddress;
  to?: CloudflareAddress | CloudflareAddress[];
  cc?: CloudflareAddress | CloudflareAddress[];
  bcc?: CloudflareAddress | CloudflareAddress[];
  subject?: string;
  text?: string;
  html?: string;
  replyTo?: CloudflareAddress;
  headers?: Record<string, string>;
}

/** One email the stand-in took. */
export interface CloudflareSentEmail {
  messageId: string;
  from: string;
  to: string[];
  subject: string;
  text: string | undefined;
  headers: Record<string, string>;
}

/** What becomes of the next call, whatever it holds: a refusal before sending, a lost answer, or a hang. */
export type CloudflareFate = CloudflareEmailErrorCode | "lose_answer" | "hang";

export interface CloudflareEmailStandInOptions {
  /** Onboarded, verified sending domains; `from` must be at one. Default `["notepipe.dev"]`. */
  senderDomains?: readonly string[];
  /** A binding's `allowed_sender_addresses`; unset: any address at a sending domain. */
  allowedSenders?: readonly string[];
  /** Verified destination addresses of the account (case-insensitive). Default none. */
  verifiedDestinations?: readonly string[];
  /** A sending domain is onboarded: any recipient may receive. Default false: verified destinations only. */
  onboarded?: boolean;
  /** Sends to other than verified destinations allowed per day; default none counted. */
  dailyLimit?: number;
}

/** What a thrown refusal looks like: "Errors are thrown as standard Error objects with a `code` property". */
export class CloudflareEmailError extends Error {
  readonly code: CloudflareEmailErrorCode;
  constructor(code: CloudflareEmailErrorCode, message: string) {
    super(message);
    this.name = "Error";
    this.code = code;
  }
}

const HEADER_NAME = /^X-[A-Za-z0-9\-_]+$/;
/** Set by the platform (headers reference, "Platform-controlled headers"). */
const PLATFORM_HEADERS = new Set([
  "date",
  "message-id",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "dkim-signature",
  "return-path",
  "received",
  "feedback-id",
  "tls-required",
  "tls-report-domain",
  "tls-report-submitter",
  "cfbl-address",
  "cfbl-feedback-id",
]);
const API_FIELD_HEADERS = new Set(["from", "to", "cc", "bcc", "subject", "reply-to"]);
const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const encoder = new TextEncoder();

function refuse(code: CloudflareEmailErrorCode, message: string): never {
  throw new CloudflareEmailError(code, message);
}

function bytes(text: string): number {
  return encoder.encode(text).length;
}

function addressOf(address: CloudflareAddress): string | null {
  if (typeof address === "string") return mailboxAddress(address);
  return typeof address?.email === "string" ? mailboxAddress(address.email) : null;
}

function listOf(value: CloudflareAddress | CloudflareAddress[] | undefined): CloudflareAddress[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * @example
 * const email = new CloudflareEmailStandIn({ verifiedDestinations: ["ada@example.com"] });
 * await email.send({ from: "notes@notepipe.dev", to: "ada@example.com", subject: "Hi", text: "…" });
 * email.sent.length; // 1
 */
export class CloudflareEmailStandIn {
  /** Every email sent, in order. */
  readonly sent: CloudflareSentEmail[] = [];
  /** Every `send()` call, refused or not: each is one subrequest of its invocation. */
  calls = 0;
  readonly #senderDomains: ReadonlySet<string>;
  readonly #allowedSenders: ReadonlySet<string> | null;
  readonly #verified: ReadonlySet<string>;
  readonly #onboarded: boolean;
  readonly #dailyLimit: number | null;
  #countedToday = 0;
  readonly #fates: CloudflareFate[] = [];

  constructor(options: CloudflareEmailStandInOptions = {}) {
    this.#senderDomains = new Set((options.senderDomains ?? ["notepipe.dev"]).map((domain) => domain.toLowerCase()));
    this.#allowedSenders =
      options.allowedSenders === undefined ? null : new Set(options.allowedSenders.map((a) => a.toLowerCase()));
    this.#verified = new Set((options.verifiedDestinations ?? []).map((address) => address.toLowerCase()));
    this.#onboarded = options.onboarded ?? false;
    this.#dailyLimit = options.dailyLimit ?? null;
  }

  /** The next calls meet these fates, one each, in order, before anything else. */
  failNext(...fates: CloudflareFate[]): void {
    this.#fates.push(...fates);
  }

  async send(message: CloudflareMessage): Promise<{ messageId: string }> {
    this.calls++;
    const fate = this.#fates.shift();
    if (fate === "hang") return new Promise(() => {});
    if (fate !== undefined && fate !== "lose_answer") refuse(fate, `Injected: ${fate}.`);
    const email = this.#check(message);
    this.sent.push(email);
    // The service took it; the answer never reaches the Worker, as when the connection to it breaks.
    if (fate === "lose_answer") throw new Error("Network connection lost.");
    return { messageId: email.messageId };
  }

  #check(message: CloudflareMessage): CloudflareSentEmail {
    if (typeof message !== "object" || message === null || "raw" in message) {
      refuse("E_VALIDATION_ERROR", "Only a structured message is accepted here.");
    }
    if (message.from === undefined || message.from === "") refuse("E_FIELD_MISSING", "Missing `from`.");
    if (message.to === undefined || listOf(message.to).length === 0) refuse("E_FIELD_MISSING", "Missing `to`.");
    if (typeof message.subject !== "string" || message.subject === "") refuse("E_FIELD_MISSING", "Missing `subject`.");
    if (message.text === undefined && message.html === undefined) {
      refuse("E_VALIDATION_ERROR", "Neither `text` nor `html` is given.");
    }
    const from = addressOf(message.from);
    if (from === null) refuse("E_VALIDATION_ERROR", "Invalid email format in `from`.");
    const recipients = [...listOf(message.to), ...listOf(message.cc), ...listOf(message.bcc)];
    if (recipients.length > LIMITS.recipients) {
      refuse("E_TOO_MANY_RECIPIENTS", `Combined recipients exceed ${LIMITS.recipients}.`);
    }
    const to: string[] = [];
    for (const recipient of recipients) {
      const address = addressOf(recipient);
      if (address === null) refuse("E_VALIDATION_ERROR", "Invalid email format in a recipient.");
      to.push(address);
    }
    if (message.subject.length > LIMITS.subjectChars) {
      refuse("E_VALIDATION_ERROR", `The subject exceeds ${LIMITS.subjectChars} characters.`);
    }
    const headers = this.#checkHeaders(message.headers ?? {});
    const senderDomain = from.slice(from.lastIndexOf("@") + 1).toLowerCase();
    if (!this.#senderDomains.has(senderDomain)) refuse("E_SENDER_NOT_VERIFIED", "Sender domain not verified.");
    if (this.#allowedSenders !== null && !this.#allowedSenders.has(from.toLowerCase())) {
      refuse("E_SENDER_NOT_VERIFIED", "Sender not in allowed_sender_addresses.");
    }
    const unverified = to.filter((address) => !this.#verified.has(address.toLowerCase()));
    if (!this.#onboarded && unverified.length > 0) {
      refuse("E_RECIPIENT_NOT_ALLOWED", "Recipient not in the account's verified destination addresses.");
    }
    if (to.some((address) => refusalReason(address) !== null)) {
      refuse("E_RECIPIENT_SUPPRESSED", "Recipient is on the suppression list.");
    }
    const size =
      bytes(message.subject) +
      bytes(message.text ?? "") +
      bytes(message.html ?? "") +
      Object.entries(headers).reduce((sum, [name, value]) => sum + bytes(name) + bytes(value) + 4, 0);
    const maxSize = unverified.length === 0 ? LIMITS.verifiedMessageBytes : LIMITS.messageBytes;
    if (size > maxSize) refuse("E_CONTENT_TOO_LARGE", "Total message size exceeds the maximum.");
    if (unverified.length > 0 && this.#dailyLimit !== null) {
      if (this.#countedToday >= this.#dailyLimit) refuse("E_DAILY_LIMIT_EXCEEDED", "Daily sending quota reached.");
      this.#countedToday++;
    }
    return { messageId: messageIdAt(senderDomain), from, to, subject: message.subject, text: message.text, headers };
  }

  #checkHeaders(headers: Record<string, string>): Record<string, string> {
    let total = 0;
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      if (API_FIELD_HEADERS.has(lower))
        refuse("E_HEADER_USE_API_FIELD", `Header '${name}' must be set via its API field.`);
      if (PLATFORM_HEADERS.has(lower) || lower.startsWith("arc-")) {
        refuse("E_HEADER_NOT_ALLOWED", `Header '${name}' is not allowed. It is auto-generated by the platform.`);
      }
      if (bytes(name) > LIMITS.headerNameBytes || /[^\x21-\x39\x3b-\x7e]/.test(name)) {
        refuse("E_HEADER_NAME_INVALID", `Header name '${name}' contains invalid characters.`);
      }
      if (!HEADER_NAME.test(name)) refuse("E_HEADER_NOT_ALLOWED", `Header '${name}' is not allowed.`);
      if (typeof value !== "string" || value === "" || /[\r\n]/.test(value)) {
        refuse("E_HEADER_VALUE_INVALID", `Header '${name}' has an invalid value.`);
      }
      if (bytes(value) > LIMITS.headerValueBytes) {
        refuse("E_HEADER_VALUE_TOO_LONG", `Header '${name}' value exceeds ${LIMITS.headerValueBytes} byte limit.`);
      }
      total += bytes(name) + 2 + bytes(value) + 2;
    }
    if (total > LIMITS.headersBytes) refuse("E_HEADERS_TOO_LARGE", "Total custom headers payload exceeds 16KB limit.");
    return { ...headers };
  }
}

/** `<36 letters and digits@domain>`, the Message-ID form Miniflare gives production's results. */
function messageIdAt(domain: string): string {
  const random = crypto.getRandomValues(new Uint8Array(36));
  return `<${Array.from(random, (byte) => ID_ALPHABET[byte % ID_ALPHABET.length]).join("")}@${domain}>`;
}
