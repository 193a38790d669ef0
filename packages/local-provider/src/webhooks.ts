/**
 * Delivery webhooks, as the real providers send them once an email has reached (or bounced from)
 * the recipient's server: a short while after each accepted email, a Resend email gets a
 * Svix-signed `email.delivered` (or `email.bounced`) and a Postmark email a basic-auth `Delivery`
 * (or `Bounce`), posted to the URL given in {@link WebhookOptions}.
 *
 * Like Svix, an event the receiver does not take (a non-2xx answer, no answer) is sent again, under
 * the same `svix-id` with a fresh timestamp and signature, after its `Retry-After` or a backoff:
 * the deliver Worker answers 503 to an event that comes too soon after its `sent` write.
 *
 * Which event an address gets: a `bounced@…` mailbox (also `bounced+tag@…`) bounces, every other
 * address is delivered. (`bounce@…` is refused at send time, recipients.ts.)
 */

import { createHmac, randomUUID } from "node:crypto";
import type { Inbox, InboxEmail } from "./inbox.ts";

export interface WebhookOptions {
  /** Where Resend-style events go, e.g. the stack's `http://127.0.0.1:8787/webhooks/resend`. */
  resendUrl?: string;
  /** The `whsec_<base64>` secret that signs them (the deliver Worker's `RESEND_WEBHOOK_SECRET`). */
  resendSecret?: string;
  /** Where Postmark-style events go. */
  postmarkUrl?: string;
  /** `user:password` for their basic auth (the deliver Worker's `POSTMARK_WEBHOOK_CREDENTIALS`). */
  postmarkCredentials?: string;
  /** How long after an email is accepted its event is posted. Default 2000 ms. */
  delayMs?: number;
  /** Posts per event before it is given up. Default 8 (about two minutes of retries). */
  maxAttempts?: number;
}

export interface WebhookStats {
  /** Events the receiver answered 2xx. */
  delivered: number;
  /** Posts that were answered otherwise, or not at all, and sent again later. */
  retried: number;
  /** Events given up after `maxAttempts`. */
  abandoned: number;
  /** Events waiting for their first post or a retry. */
  pending: number;
}

export const DEFAULT_WEBHOOK_DELAY_MS = 2000;
const DEFAULT_MAX_ATTEMPTS = 8;
/** Backoff between posts when the receiver gives no Retry-After: 1 s, 2 s, 4 s, … up to 30 s. */
const MAX_BACKOFF_MS = 30_000;
/** One post may take this long before it counts as unanswered. */
const POST_TIMEOUT_MS = 10_000;

interface PendingEvent {
  url: string;
  id: string;
  body: string;
  headers: (body: string) => Record<string, string>;
  attempts: number;
}

/** `bounced@example.com` and `bounced+x@example.com` bounce after acceptance. */
export function bouncesLater(address: string): boolean {
  const local = address.slice(0, address.lastIndexOf("@")).toLowerCase();
  return local === "bounced" || local.startsWith("bounced+");
}

/**
 * Svix's signature: `v1,` + base64 HMAC-SHA256, keyed with the secret's base64 part, over
 * `${id}.${timestamp}.${body}` (https://docs.svix.com/receiving/verifying-payloads/how-manual).
 *
 * @example
 * svixSignature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}');
 * // "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
 */
export function svixSignature(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

function resendEvent(email: InboxEmail, at: string): string {
  const bounced = email.to.some(bouncesLater);
  return JSON.stringify({
    type: bounced ? "email.bounced" : "email.delivered",
    created_at: at,
    data: {
      email_id: email.id,
      created_at: email.receivedAt,
      from: email.from,
      to: email.to,
      subject: email.subject,
      // Resend's events carry tags as an object, where its send API takes [{name, value}].
      tags: Object.fromEntries(email.tags.map((tag) => [tag.name, tag.value])),
      ...(bounced
        ? {
            bounce: {
              type: "Permanent",
              subType: "General",
              message: "The recipient's email provider sent a hard bounce message (local provider: bounced@ mailbox).",
            },
          }
        : {}),
    },
  });
}

let bounceIds = 0;

function postmarkEvent(email: InboxEmail, at: string): string {
  const recipient = email.to[0] ?? "";
  const common = { MessageID: email.id, ServerID: 1, MessageStream: "outbound", Tag: "", Metadata: email.metadata };
  if (email.to.some(bouncesLater)) {
    bounceIds++;
    return JSON.stringify({
      RecordType: "Bounce",
      ID: bounceIds,
      Type: "HardBounce",
      TypeCode: 1,
      Name: "Hard bounce",
      Description: "The server was unable to deliver your message (local provider: bounced@ mailbox).",
      Email: recipient,
      BouncedAt: at,
      Inactive: true,
      ...common,
    });
  }
  return JSON.stringify({
    RecordType: "Delivery",
    Recipient: recipient,
    DeliveredAt: at,
    Details: "Test delivery webhook details",
    ...common,
  });
}

/**
 * Posts a delivery event for every email the inbox accepts, while it runs.
 *
 * @example
 * const sender = new WebhookSender(state.inbox, { resendUrl, resendSecret });
 * sender.stop(); // on shutdown: pending events are dropped
 */
export class WebhookSender {
  readonly #options: WebhookOptions;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #inFlight = new Set<AbortController>();
  readonly #unsubscribe: () => void;
  readonly #stats: Omit<WebhookStats, "pending"> = { delivered: 0, retried: 0, abandoned: 0 };
  #pending = 0;
  #stopped = false;

  constructor(inbox: Inbox, options: WebhookOptions) {
    this.#options = options;
    this.#unsubscribe = inbox.subscribe((email) => this.#schedule(email));
  }

  get stats(): WebhookStats {
    return { ...this.#stats, pending: this.#pending };
  }

  /** Stops listening and drops every pending event and post. */
  stop(): void {
    this.#stopped = true;
    this.#unsubscribe();
    for (const timer of this.#timers) clearTimeout(timer);
    for (const controller of this.#inFlight) controller.abort();
    this.#timers.clear();
    this.#pending = 0;
  }

  #schedule(email: InboxEmail): void {
    const event = this.#eventFor(email);
    if (event === null) return;
    this.#pending++;
    this.#later(event, this.#options.delayMs ?? DEFAULT_WEBHOOK_DELAY_MS);
  }

  #eventFor(email: InboxEmail): PendingEvent | null {
    const at = new Date().toISOString();
    const { resendUrl, resendSecret, postmarkUrl, postmarkCredentials } = this.#options;
    if (email.provider === "resend" && resendUrl !== undefined && resendSecret !== undefined) {
      const id = `msg_${randomUUID().replaceAll("-", "")}`;
      return {
        url: resendUrl,
        id,
        body: resendEvent(email, at),
        attempts: 0,
        // Signed afresh for each post, as Svix does: the timestamp must be recent.
        headers: (body) => {
          const timestamp = Math.floor(Date.now() / 1000);
          return {
            "svix-id": id,
            "svix-timestamp": String(timestamp),
            "svix-signature": svixSignature(resendSecret, id, timestamp, body),
          };
        },
      };
    }
    if (email.provider === "postmark" && postmarkUrl !== undefined && postmarkCredentials !== undefined) {
      const authorization = `Basic ${Buffer.from(postmarkCredentials).toString("base64")}`;
      return {
        url: postmarkUrl,
        id: email.id,
        body: postmarkEvent(email, at),
        attempts: 0,
        headers: () => ({ authorization }),
      };
    }
    return null;
  }

  #later(event: PendingEvent, delayMs: number): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#post(event);
    }, delayMs);
    timer.unref();
    this.#timers.add(timer);
  }

  async #post(event: PendingEvent): Promise<void> {
    event.attempts++;
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const timeout = setTimeout(() => controller.abort(), POST_TIMEOUT_MS);
    let retryAfterMs: number | null = null;
    try {
      const res = await fetch(event.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...event.headers(event.body) },
        body: event.body,
        signal: controller.signal,
      });
      await res.body?.cancel();
      if (res.ok) {
        this.#stats.delivered++;
        this.#pending--;
        return;
      }
      const retryAfter = Number(res.headers.get("retry-after"));
      if (Number.isFinite(retryAfter) && retryAfter > 0) retryAfterMs = retryAfter * 1000;
    } catch {
      // No answer (the receiver is starting, or stopped): retried like a refusal.
    } finally {
      clearTimeout(timeout);
      this.#inFlight.delete(controller);
    }
    if (this.#stopped) return;
    if (event.attempts >= (this.#options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS)) {
      this.#stats.abandoned++;
      this.#pending--;
      console.warn(`local provider: webhook ${event.id} to ${event.url} given up after ${event.attempts} posts`);
      return;
    }
    this.#stats.retried++;
    const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (event.attempts - 1));
    this.#later(event, Math.max(backoff, retryAfterMs ?? 0));
  }
}
