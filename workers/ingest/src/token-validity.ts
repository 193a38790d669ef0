/**
 * Whether a client token whose MAC is right may still send: not older than the deployment's
 * `TOKEN_MAX_AGE_DAYS` (off when empty or "0"), and not issued before its address's "not before"
 * (an operator's `pnpm ops token revoke <address>`; the row's key, value and delay are
 * @notepipe/pipeline's token-revocation.ts). README.md, "Tokens", says what a client sees.
 *
 * The not-before costs a KV read, so each isolate keeps what it read for
 * {@link NOT_BEFORE_CACHE_SECONDS} (at most {@link MAX_CACHED_ADDRESSES} addresses, the oldest
 * dropped first): a revoke reaches every isolate within REVOCATION_DELAY_SECONDS (KV's 60 s and
 * these 30 s), and an address sending in a burst costs one read per isolate per 30 s.
 *
 * When KV cannot be read, the check keeps the isolate's last reading of the address, however old,
 * and takes an address it never read as not revoked: a token can only send to its own address, so
 * what a revoked token gains in a KV outage is notes to the inbox it was made for, while refusing
 * every note for as long as KV is down (hours, at worst) would hold every client's notes back.
 */

import { NOT_BEFORE_CACHE_SECONDS, notBeforeKey, readNotBefore } from "@notepipe/pipeline";
import type { ClientToken } from "@notepipe/token";
import { ApiError } from "./errors.ts";

/**
 * Addresses an isolate remembers: 1,000 entries of about 100 bytes, far under an isolate's 128 MB,
 * and more than the addresses one isolate serves in 30 s at ingest's tested rates.
 */
export const MAX_CACHED_ADDRESSES = 1_000;
const DAY_SECONDS = 24 * 60 * 60;

/** address → its not-before (seconds) and until when that reading is used (ms). Insertion order is age. */
const notBefores = new Map<string, { notBefore: number; readUntil: number }>();

let maxAgeSetting: { value: string; seconds: number } | undefined;

/**
 * `TOKEN_MAX_AGE_DAYS` in seconds, or 0 for none. Throws (a 500, logged) for anything but a whole
 * number of days: a typo must neither switch expiry off nor refuse every token without a word.
 */
function maxAgeSeconds(value: string): number {
  if (maxAgeSetting?.value === value) return maxAgeSetting.seconds;
  const trimmed = value.trim();
  if (!/^[0-9]{0,5}$/.test(trimmed)) {
    throw new Error(`TOKEN_MAX_AGE_DAYS must be a whole number of days (or empty for none); it is "${value}".`);
  }
  maxAgeSetting = { value, seconds: Number(trimmed) * DAY_SECONDS };
  return maxAgeSetting.seconds;
}

/** RFC 9110 §15.5.2: a 401 names the scheme it wants. */
export function unauthorized(message: string): ApiError {
  return new ApiError("unauthorized", { message, headers: { "www-authenticate": 'Bearer realm="notepipe"' } });
}

/**
 * Throws 401 `unauthorized` for a token older than `TOKEN_MAX_AGE_DAYS`. From the token alone (its
 * issue time is read before its MAC is checked: a forged old one is refused either way).
 *
 * @example
 * assertTokenNotExpired(read.token, env, Date.now());
 */
export function assertTokenNotExpired(token: ClientToken, env: Env, nowMs: number): void {
  const maxAge = maxAgeSeconds(env.TOKEN_MAX_AGE_DAYS);
  if (maxAge === 0 || token.issuedAt + maxAge > nowMs / 1000) return;
  throw unauthorized("This client token has expired; enrol the address again for a new one.");
}

/**
 * Throws 401 `unauthorized` for a token issued before its address's not-before. Call it only once
 * the token's MAC verified for `address`: only tokens that could send cost a read.
 *
 * @example
 * await assertTokenNotRevoked(read.token, frame.recipient, env, Date.now());
 */
export async function assertTokenNotRevoked(
  token: ClientToken,
  address: string,
  env: Env,
  nowMs: number,
): Promise<void> {
  if (token.issuedAt >= (await notBeforeOf(address.toLowerCase(), env, nowMs))) return;
  throw unauthorized("This client token was revoked; enrol the address again for a new one.");
}

async function notBeforeOf(address: string, env: Env, nowMs: number): Promise<number> {
  const cached = notBefores.get(address);
  if (cached !== undefined && cached.readUntil > nowMs) return cached.notBefore;
  let value: string | null;
  try {
    value = await env.STATUS.get(await notBeforeKey(address));
  } catch (cause) {
    // Open, with the last reading: see the module's comment. The next request reads KV again.
    console.error(`ingest: STATUS.get (not-before) failed: ${cause instanceof Error ? cause.name : typeof cause}`);
    return cached?.notBefore ?? 0;
  }
  const notBefore = readNotBefore(value);
  notBefores.delete(address);
  if (notBefores.size >= MAX_CACHED_ADDRESSES) notBefores.delete(notBefores.keys().next().value as string);
  notBefores.set(address, { notBefore, readUntil: nowMs + NOT_BEFORE_CACHE_SECONDS * 1000 });
  return notBefore;
}
