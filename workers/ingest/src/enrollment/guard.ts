/**
 * The per-address enrollment store, and the one module that touches it: one SQLite-backed Durable
 * Object per lowercased address (`getByName`), holding the address's live codes and when its codes
 * were issued.
 *
 * - issued: when each code of the last 24 h was issued, so that at most {@link CODES_PER_HOUR} an
 *   hour and {@link CODES_PER_DAY} a day are (nobody can make notepipe mail an inbox more often,
 *   and the daily cap is what the guessing bound rests on: workers/ingest/README.md, "Enrollment");
 * - live: each code not yet used, expired or missed: its kid and MAC (never the code), when it
 *   expires ({@link CODE_LIFETIME_MS}, what the email says) and how many wrong codes it has met.
 *   A right code is used once and takes the address's other live codes with it; a wrong one counts
 *   a miss against every live code, and a code dies at its {@link MISSES_PER_CODE}th miss.
 *
 * Bounded: `issued` holds at most {@link CODES_PER_DAY} times, `live` at most {@link CODES_PER_HOUR}
 * codes (a code lives 10 minutes, an hour issues 3), each a few dozen bytes; expired entries are
 * dropped whenever the object is asked, and the alarm, set to 24 h after the newest issue, deletes
 * everything, so an address that stopped enrolling holds nothing a day later. A check for an
 * address that has no live code writes nothing.
 *
 * Why a Durable Object: the Rate Limiting binding counts 10 s or 60 s periods only; KV would cost a
 * write per request (the Free plan has 1,000 a day) and reads stale values in a burst; a Durable
 * Object is strongly consistent, runs one request at a time per address, and SQLite-backed ones
 * are on the Free plan. The address is the object's name, hashed into its id and not stored.
 */

import { DurableObject } from "cloudflare:workers";
import { CODE_LIFETIME_MS, sameMac } from "@notepipe/token";
import { ApiError } from "../errors.ts";

export const CODES_PER_HOUR = 3;
export const CODES_PER_DAY = 10;
export const MISSES_PER_CODE = 5;
const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
/** An outage of the guard is usually brief; the same first wait as a failed rate-limiter call. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = "10";

/**
 * Storage keys. Version 1 (stateless codes) kept `codes` (issue times of the last hour) and `tries`
 * (check times of the last 10 minutes); version 2 keeps `issued` and `live`, and the constructor
 * moves a version-1 object's issue times over, so the hourly cap holds across the deploy.
 */
const KEYS = { issued: "issued", live: "live", v1Codes: "codes", v1Tries: "tries" } as const;

interface LiveCode {
  kid: string;
  mac: Uint8Array;
  expiresAt: number;
  misses: number;
}

/** A stored code's MAC as the route computed it from the typed code, under each current kid. */
export type CodeMacs = ReadonlyMap<string, Uint8Array>;

export type IssueResult = { ok: true } | { ok: false; retryAfterSeconds: number };

export class EnrollmentGuard extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const kv = ctx.storage.kv;
    const v1Codes = kv.get<number[]>(KEYS.v1Codes);
    if (v1Codes !== undefined || kv.get(KEYS.v1Tries) !== undefined) {
      // Its alarm, set to an hour at most after the last v1 count, still deletes what is moved.
      if (v1Codes !== undefined && kv.get(KEYS.issued) === undefined) kv.put(KEYS.issued, v1Codes);
      kv.delete(KEYS.v1Codes);
      kv.delete(KEYS.v1Tries);
    }
  }

  /**
   * Stores a new code (its MAC under `kid`) at `now`, unless the address has had its codes for the
   * hour or the day: then how long until the oldest of the full window leaves it.
   */
  async issue(kid: string, mac: Uint8Array, now: number): Promise<IssueResult> {
    const kv = this.ctx.storage.kv;
    const issued = (kv.get<number[]>(KEYS.issued) ?? []).filter((at) => at > now - DAY_MS);
    const lastHour = issued.filter((at) => at > now - HOUR_MS);
    const waits: number[] = [];
    if (lastHour.length >= CODES_PER_HOUR) waits.push((lastHour.at(-CODES_PER_HOUR) as number) + HOUR_MS - now);
    if (issued.length >= CODES_PER_DAY) waits.push((issued.at(-CODES_PER_DAY) as number) + DAY_MS - now);
    if (waits.length > 0) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(Math.max(...waits) / 1000)) };

    issued.push(now);
    kv.put(KEYS.issued, issued);
    kv.put(KEYS.live, [...this.liveAt(now), { kid, mac, expiresAt: now + CODE_LIFETIME_MS, misses: 0 }]);
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm < now + DAY_MS) await this.ctx.storage.setAlarm(now + DAY_MS);
    return { ok: true };
  }

  /** Takes back the code issued with `mac`, whose email could not be queued; its issue still counts. */
  withdraw(mac: Uint8Array, now: number): void {
    this.ctx.storage.kv.put(
      KEYS.live,
      this.liveAt(now).filter((code) => !sameMac(code.mac, mac)),
    );
  }

  /**
   * Whether a live code matches: then it and the address's other codes are used up. Otherwise a
   * miss counts against every live code, and a code at its last miss is deleted.
   */
  redeem(macs: CodeMacs, now: number): boolean {
    const kv = this.ctx.storage.kv;
    const live = this.liveAt(now);
    if (live.length === 0) return false;
    let matched = false;
    for (const code of live) {
      const mac = macs.get(code.kid);
      // Every live code is compared, whichever matched: the time taken says nothing of which one.
      matched = (mac !== undefined && sameMac(code.mac, mac)) || matched;
    }
    if (matched) {
      kv.delete(KEYS.live);
      return true;
    }
    const alive = live
      .map((code) => ({ ...code, misses: code.misses + 1 }))
      .filter((code) => code.misses < MISSES_PER_CODE);
    kv.put(KEYS.live, alive);
    return false;
  }

  /** Every entry has left its window by now (the alarm is set 24 h after the newest issue). */
  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }

  private liveAt(now: number): LiveCode[] {
    return (this.ctx.storage.kv.get<LiveCode[]>(KEYS.live) ?? []).filter((code) => code.expiresAt > now);
  }
}

/**
 * Stores a new code's MAC for `address` (lowercased); throws 429 `rate_limited` with Retry-After
 * past the hour's or the day's cap, 503 `rate_limiter_unavailable` if the guard cannot be reached
 * (closed, never open: no code is issued without its count).
 *
 * @example
 * await issueCode(env, "ada@example.com", kid, mac); // then queue the email
 */
export async function issueCode(env: Env, address: string, kid: string, mac: Uint8Array): Promise<void> {
  const result = await askGuard<IssueResult>(
    "issue",
    async () => await env.ENROLLMENT_GUARD.getByName(address).issue(kid, mac, Date.now()),
  );
  if (!result.ok) {
    throw new ApiError("rate_limited", {
      message: "Too many codes for this address; retry after the Retry-After seconds.",
      headers: { "retry-after": String(result.retryAfterSeconds) },
    });
  }
}

/**
 * Takes back a code whose email could not be queued, so that no code lives without its email.
 * Never throws: the caller is already answering 503, and a code nobody was sent is a random secret
 * nobody holds, which expires on its own within {@link CODE_LIFETIME_MS}.
 */
export async function withdrawCode(env: Env, address: string, mac: Uint8Array): Promise<void> {
  try {
    await env.ENROLLMENT_GUARD.getByName(address).withdraw(mac, Date.now());
  } catch (cause) {
    console.error(`ingest: ENROLLMENT_GUARD.withdraw failed: ${cause instanceof Error ? cause.name : typeof cause}`);
  }
}

/**
 * Whether the typed code (its MAC under each current kid) is a live code of `address`, using it up
 * if so; 503 `rate_limiter_unavailable` if the guard cannot be reached.
 *
 * @example
 * if (!(await redeemCode(env, "ada@example.com", macs))) throw new ApiError("invalid_code");
 */
export function redeemCode(env: Env, address: string, macs: CodeMacs): Promise<boolean> {
  return askGuard("redeem", () => env.ENROLLMENT_GUARD.getByName(address).redeem(macs, Date.now()));
}

async function askGuard<T>(method: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (cause) {
    // The name only: a Durable Object error's message may quote its name, which is the address.
    console.error(`ingest: ENROLLMENT_GUARD.${method} failed: ${cause instanceof Error ? cause.name : typeof cause}`);
    throw new ApiError("rate_limiter_unavailable", {
      headers: { "retry-after": UNAVAILABLE_RETRY_AFTER_SECONDS },
      cause,
    });
  }
}
