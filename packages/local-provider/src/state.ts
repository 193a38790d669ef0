/**
 * Everything the local provider remembers, in memory only: a restart forgets it all, as `POST
 * /_control/reset` does.
 */

import type { HttpBindings } from "@hono/node-server";
import type { Api } from "./errors.ts";
import { type FaultDecision, FaultInjector, type FaultsInput, faultsSchema, type LostAnswer } from "./faults.ts";
import { IdempotencyStore } from "./idempotency.ts";
import { Inbox } from "./inbox.ts";
import { RateLimiter } from "./rate-limit.ts";
import { RESEND_LIMITS } from "./resend-contract.ts";
import { type WebhookOptions, WebhookSender } from "./webhooks.ts";

/** The key `.dev.vars.example` gives the deliver Worker as `MAIL_API_KEY`. */
export const DEFAULT_API_KEY = "re_local_notepipe_dev";
/** Resend's default, per team (resend-contract.ts, `rate-limit`); one API key is one team here. */
export const DEFAULT_RATE_LIMIT_PER_SECOND = RESEND_LIMITS.requestsPerSecond;

export interface LocalProviderOptions {
  /**
   * What this provider is called where a stack runs two (`primary`, `secondary`): shown by its
   * stats and its inbox page. Default `local`.
   */
  name?: string;
  /** API keys (Resend) and server tokens (Postmark) it accepts; default {@link DEFAULT_API_KEY}. */
  apiKeys?: readonly string[];
  /** Requests per second per key; 0 turns the limit off. Default 5. */
  rateLimitPerSecond?: number;
  /** Faults from the start, as `POST /_control/faults` takes them. */
  faults?: FaultsInput;
  /** The clock for rate limits, idempotency expiry and timestamps; tests move it by hand. */
  now?: () => number;
  /** Post delivery webhooks for accepted emails (webhooks.ts); none without it. */
  webhooks?: WebhookOptions;
}

/** Counts requests to the send endpoints by the status they were answered with. */
export class RequestStats {
  requests = 0;
  byStatus: Record<string, number> = {};
  /** Requests never answered (a `hangRate` fault) whose client gave up. */
  hung = 0;
  /**
   * Requests processed in full whose answer never reached the client (a `loseAnswerRate` fault),
   * by how it was lost; a `hold` counts once its client gave up.
   */
  answersLost: Record<LostAnswer, number> = { reset: 0, hold: 0 };
  /** Answers replayed from an idempotency key instead of sending again. */
  replayed = 0;
  /** Requests whose connection was dropped unread by an `outage: "refused"` fault. */
  refused = 0;

  record(status: number): void {
    this.requests++;
    this.byStatus[status] = (this.byStatus[status] ?? 0) + 1;
  }

  recordHung(): void {
    this.requests++;
    this.hung++;
  }

  recordRefused(): void {
    this.requests++;
    this.refused++;
  }

  recordAnswerLost(how: LostAnswer): void {
    this.requests++;
    this.answersLost[how]++;
  }

  clear(): void {
    this.requests = 0;
    this.byStatus = {};
    this.hung = 0;
    this.answersLost = { reset: 0, hold: 0 };
    this.replayed = 0;
    this.refused = 0;
  }
}

export class ProviderState {
  readonly name: string;
  readonly apiKeys: ReadonlySet<string>;
  readonly now: () => number;
  readonly inbox = new Inbox();
  readonly faults: FaultInjector;
  readonly stats = new RequestStats();
  readonly idempotency: IdempotencyStore;
  readonly rateLimiter: RateLimiter;
  /** Null unless the provider was started with webhook URLs. `stop()` it when done. */
  readonly webhooks: WebhookSender | null;
  readonly #initialRateLimit: number;
  readonly #initialFaults: FaultsInput;

  constructor(options: LocalProviderOptions = {}) {
    this.name = options.name ?? "local";
    this.apiKeys = new Set(options.apiKeys ?? [DEFAULT_API_KEY]);
    this.now = options.now ?? Date.now;
    this.faults = new FaultInjector(this.now);
    this.idempotency = new IdempotencyStore(this.now);
    this.#initialRateLimit = options.rateLimitPerSecond ?? DEFAULT_RATE_LIMIT_PER_SECOND;
    this.rateLimiter = new RateLimiter(this.#initialRateLimit, this.now);
    this.#initialFaults = options.faults ?? {};
    this.faults.set(faultsSchema.parse(this.#initialFaults));
    this.webhooks = options.webhooks === undefined ? null : new WebhookSender(this.inbox, options.webhooks);
  }

  /** Back to how it started: no emails, no keys, no counts, the initial faults and rate limit. */
  reset(): void {
    this.inbox.clear();
    this.stats.clear();
    this.idempotency.clear();
    this.rateLimiter.perSecond = this.#initialRateLimit;
    this.faults.set(faultsSchema.parse(this.#initialFaults));
  }
}

/** Hono context variables shared by the routes. */
export interface ProviderEnv {
  /** The Node request and response when server.ts serves the app; `app.request` passes none. */
  Bindings: Partial<HttpBindings> | undefined;
  Variables: {
    /** Which contract the matched route speaks; unset on unknown paths. */
    api: Api | undefined;
    /** The caller's API key, once checked. */
    apiKey: string;
    fault: FaultDecision;
  };
}
