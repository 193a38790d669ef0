/**
 * The per-address enrollment limits, and the one module that touches their store: one SQLite-backed
 * Durable Object per lowercased address (`getByName`), holding two short lists of timestamps.
 *
 * - codes: at most {@link CODES_PER_HOUR} code emails per address per hour, so that nobody can
 *   make notepipe mail an inbox more often than that;
 * - tries: at most {@link TRIES_PER_WINDOW} code checks per address per 10 minutes, so that a
 *   guesser gets 5 tries against 1,000,000 codes (2 valid, or 2 per current kid) per code lifetime.
 *
 * The Rate Limiting binding counts 10 s or 60 s periods only; an hour needs a store. Why a Durable
 * Object: KV would cost a write per request (the Free plan has 1,000 a day) and is eventually
 * consistent, so a burst would read stale counts; a Durable Object is strongly consistent, runs one
 * request at a time per address, and is on the Free plan (100,000 requests and 100,000 rows
 * written a day). Cost: each count is one request, one row read and one row written, plus one
 * alarm write while the address has no alarm set; the alarm (one request) deletes the rows once
 * every entry has expired, so an address that stopped enrolling holds nothing.
 * Timestamps only: the address is the object's name, which is hashed into its id and not stored.
 */

import { DurableObject } from "cloudflare:workers";
import { ApiError } from "../errors.ts";

export const CODES_PER_HOUR = 3;
const CODE_WINDOW_MS = 60 * 60 * 1000;
export const TRIES_PER_WINDOW = 5;
const TRY_WINDOW_MS = 10 * 60 * 1000;
/** An outage of the guard is usually brief; the same first wait as a failed rate-limiter call. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = "10";

const LIMITS = {
  codes: { limit: CODES_PER_HOUR, windowMs: CODE_WINDOW_MS },
  tries: { limit: TRIES_PER_WINDOW, windowMs: TRY_WINDOW_MS },
} as const;
type Counter = keyof typeof LIMITS;

/** What a count answers: allowed, or how long until the oldest counted request leaves the window. */
export type CountResult = { ok: true } | { ok: false; retryAfterSeconds: number };

export class EnrollmentGuard extends DurableObject<Env> {
  /** Counts one request against `counter` at `now`, unless the window is full. */
  async count(counter: Counter, now: number): Promise<CountResult> {
    const { limit, windowMs } = LIMITS[counter];
    const kv = this.ctx.storage.kv;
    const recent = (kv.get<number[]>(counter) ?? []).filter((at) => at > now - windowMs);
    if (recent.length >= limit) {
      const oldest = recent[0] as number;
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((oldest + windowMs - now) / 1000)) };
    }
    recent.push(now);
    kv.put(counter, recent);
    const expires = now + windowMs;
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm < expires) await this.ctx.storage.setAlarm(expires);
    return { ok: true };
  }

  /** Every entry has left its window by now (the alarm is set to the latest expiry). */
  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}

/**
 * Counts a code email for `address` (lowercased); throws 429 `rate_limited` with Retry-After past
 * the limit, 503 `rate_limiter_unavailable` if the guard cannot be reached (closed, never open).
 *
 * @example
 * await countCodeRequest(env, "ada@example.com"); // then queue the email
 */
export function countCodeRequest(env: Env, address: string): Promise<void> {
  return countOrThrow(env, address, "codes", "Too many codes for this address; retry after the Retry-After seconds.");
}

/** Counts a code check for `address` (lowercased), with the same answers as {@link countCodeRequest}. */
export function countCodeTry(env: Env, address: string): Promise<void> {
  return countOrThrow(
    env,
    address,
    "tries",
    "Too many tries for this address; retry after the Retry-After seconds with the newest code.",
  );
}

async function countOrThrow(env: Env, address: string, counter: Counter, message: string): Promise<void> {
  let result: CountResult;
  try {
    result = await env.ENROLLMENT_GUARD.getByName(address).count(counter, Date.now());
  } catch (cause) {
    // The name only: a Durable Object error's message may quote its name, which is the address.
    console.error(`ingest: ENROLLMENT_GUARD.count failed: ${cause instanceof Error ? cause.name : typeof cause}`);
    throw new ApiError("rate_limiter_unavailable", {
      headers: { "retry-after": UNAVAILABLE_RETRY_AFTER_SECONDS },
      cause,
    });
  }
  if (!result.ok) {
    throw new ApiError("rate_limited", { message, headers: { "retry-after": String(result.retryAfterSeconds) } });
  }
}
