/**
 * Fault injection for the send endpoints, set through `POST /_control/faults`. Every send request
 * draws the same two numbers from a seeded generator whatever happens to it, so a given seed yields
 * the same faults for the same sequence of requests: a failing test can be replayed. The first
 * number decides whether the request is turned away at the door (`errorRate`), the second what
 * becomes of it once the API took it (`hangRate`, `loseAnswerRate`), so a request meets at most one
 * of those two and their rates share one budget of 1.
 *
 * Where each fault strikes, and what it leaves behind:
 * - `outage`: the provider is down. `refused` drops every send request's connection before it is
 *   read, as a host with nothing listening refuses it (the client's fetch fails with a network
 *   error); a status answers every send request with that 5xx before anything else is looked at.
 *   Nothing is sent. The control routes and the inbox keep answering, so a test can end it.
 * - `reject`: every send is refused as the real API refuses a whole account (bad key, unverified
 *   domain, spent quota). Nothing is sent.
 * - `burst429`, `errorRate`: the request is answered with that status before the API looks at it,
 *   as a load balancer or the limiter would. Nothing is sent, no idempotency key is used.
 * - `hangRate`: the request is accepted for processing (its idempotency key is in flight, so a
 *   retry under the same key gets 409 `concurrent_idempotent_requests`) and then never answered;
 *   when the client gives up, it is dropped and nothing is sent.
 * - `loseAnswerRate`: the request is processed in full (its emails are in the inbox, its idempotency
 *   key holds the answer) and then the answer never reaches the client, as when a connection fails
 *   after the provider committed. `reset` resets the TCP connection (the client's fetch fails at
 *   once, ECONNRESET; under `app.request`, which has no connection, the answer is
 *   `Response.error()`, fetch's own network error); `hold` keeps the answer back until the client
 *   gives up (its own timeout). A retry under the same idempotency key, even while the first is
 *   still held, replays the kept answer; without a key (Postmark has none) a retry sends again. A
 *   request the API refuses is answered as usual: only an acceptance is lost.
 * - `latencyMs`: processing takes that long. A client that gives up earlier does not stop it: the
 *   emails are sent and the answer is kept under the idempotency key, as with a real provider
 *   whose response was lost on the way back.
 * - `forMs`: the faults set with it are in force that long, then every fault is off, as a provider
 *   that recovers on its own (an outage of 30 s, a quota that resets at midnight UTC).
 */

import { z } from "zod";
import type { ErrorCode } from "./errors.ts";

const rate = z.number().min(0).max(1);

export const REJECT_MODES = [
  "invalid_api_key",
  "restricted_api_key",
  "domain_not_verified",
  "daily_quota_exceeded",
  "monthly_quota_exceeded",
] as const satisfies readonly ErrorCode[];

/** How a provider that is down meets a send request (see `outage` above). */
export const OUTAGE_MODES = ["refused", "500", "502", "503"] as const;
export type OutageMode = (typeof OUTAGE_MODES)[number];

/** A week: longer than any run or drill that sets faults. */
const MAX_FAULT_MS = 7 * 86_400_000;

export const faultsSchema = z
  .strictObject({
    /** Seeds the generator; the same seed and the same requests give the same faults. */
    seed: z.int().min(0).max(0xffff_ffff).default(1),
    /** Fraction of send requests answered with each status, before any processing. */
    errorRate: z
      .strictObject({ "429": rate, "500": rate, "502": rate, "503": rate })
      .partial()
      .refine((rates) => Object.values(rates).reduce((sum, r) => sum + r, 0) <= 1, "the rates add up to more than 1")
      .default({}),
    /** The next N send requests are answered 429, as during a traffic spike. */
    burst429: z.int().min(0).max(100_000).default(0),
    /** Processing time added to every send request. */
    latencyMs: z.int().min(0).max(120_000).default(0),
    /** Fraction of send requests that are never answered. */
    hangRate: rate.default(0),
    /** Fraction of send requests processed in full whose answer is then lost, by how it is lost. */
    loseAnswerRate: z.strictObject({ reset: rate, hold: rate }).partial().default({}),
    /** Refuse every send request the way the API refuses a whole account. */
    reject: z.enum(REJECT_MODES).nullable().default(null),
    /** The provider is down: every send request's connection is dropped, or answered with a 5xx. */
    outage: z.enum(OUTAGE_MODES).nullable().default(null),
    /** These faults last that long, then all are off; null: until the next set or reset. */
    forMs: z.int().min(1).max(MAX_FAULT_MS).nullable().default(null),
  })
  .refine((faults) => faults.hangRate + (faults.loseAnswerRate.reset ?? 0) + (faults.loseAnswerRate.hold ?? 0) <= 1, {
    message: "hangRate and the loseAnswerRate rates add up to more than 1",
    path: ["loseAnswerRate"],
  });

export type FaultsInput = z.input<typeof faultsSchema>;
export type Faults = z.output<typeof faultsSchema>;

export type InjectedStatus = 429 | 500 | 502 | 503;

/** How an accepted request's answer fails to reach its client. */
export type LostAnswer = "reset" | "hold";

/** What the faults do to one send request. */
export interface FaultDecision {
  status: InjectedStatus | null;
  hang: boolean;
  loseAnswer: LostAnswer | null;
  latencyMs: number;
}

const INJECTED_STATUSES: readonly InjectedStatus[] = [429, 500, 502, 503];

type Fate = Pick<FaultDecision, "hang" | "loseAnswer">;
const NO_FATE: Fate = { hang: false, loseAnswer: null };

/**
 * mulberry32, a 32-bit generator that is small, fast and good enough for picking faults
 * (https://gist.github.com/tommyettinger/46a874533244883189143505d203312c). Not for secrets.
 */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const NO_FAULTS: Faults = faultsSchema.parse({});

export class FaultInjector {
  readonly #now: () => number;
  #faults: Faults = NO_FAULTS;
  #random = mulberry32(this.#faults.seed);
  #burstLeft = 0;
  /** When the faults set with `forMs` end (ms since the epoch), or null. */
  #endsAt: number | null = null;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The faults in force; `burst429` and `forMs` count what is left of them. */
  get current(): Faults {
    this.#endIfDue();
    const forMs = this.#endsAt === null ? null : this.#endsAt - this.#now();
    return { ...this.#faults, burst429: this.#burstLeft, forMs };
  }

  /** Replaces every fault (omitted ones are off) and restarts the generator from the seed. */
  set(faults: Faults): void {
    this.#faults = faults;
    this.#random = mulberry32(faults.seed);
    this.#burstLeft = faults.burst429;
    this.#endsAt = faults.forMs === null ? null : this.#now() + faults.forMs;
  }

  #endIfDue(): void {
    if (this.#endsAt !== null && this.#now() >= this.#endsAt) this.set(NO_FAULTS);
  }

  /** Decides the fate of one send request. `reject` and `outage` are read separately: not random. */
  decide(): FaultDecision {
    this.#endIfDue();
    const errorDraw = this.#random();
    const fateDraw = this.#random();
    let status: InjectedStatus | null = null;
    if (this.#burstLeft > 0) {
      this.#burstLeft--;
      status = 429;
    } else {
      let threshold = 0;
      for (const candidate of INJECTED_STATUSES) {
        threshold += this.#faults.errorRate[candidate] ?? 0;
        if (errorDraw < threshold) {
          status = candidate;
          break;
        }
      }
    }
    const fate = status === null ? this.#fateOnceAccepted(fateDraw) : NO_FATE;
    return { status, ...fate, latencyMs: this.#faults.latencyMs };
  }

  /** The second draw falls in one band of [0, 1): hang, reset, hold, or none of these. */
  #fateOnceAccepted(draw: number): Fate {
    const { hangRate, loseAnswerRate } = this.#faults;
    if (draw < hangRate) return { hang: true, loseAnswer: null };
    const resetBelow = hangRate + (loseAnswerRate.reset ?? 0);
    if (draw < resetBelow) return { hang: false, loseAnswer: "reset" };
    if (draw < resetBelow + (loseAnswerRate.hold ?? 0)) return { hang: false, loseAnswer: "hold" };
    return NO_FATE;
  }
}
