/**
 * An address's "not before": the time before which its client tokens are refused, set by an
 * operator (`pnpm ops token revoke <address>`, the deliver Worker's `POST /ops/tokens/revoke`) and
 * read by ingest on `POST /v1/notes`. Both Workers bind the same `STATUS` KV namespace; this module
 * is where its key, its value and the delay before it applies are written down, once.
 *
 * One row per address ever revoked, `notbefore:<SHA-256 of the address, hex>` → the time in whole
 * seconds since the epoch, in decimal: a revoke overwrites it, nothing else writes it. The key
 * holds a digest, not the address, as the status records hold none. A row has no expiry: a token
 * has none unless the ingest Worker's `TOKEN_MAX_AGE_DAYS` is set, and a row that lapsed would let
 * the tokens it refused back in. So the rows are as many as the addresses operators revoked (about
 * 90 bytes each; the Free plan's 1 GB holds ten million), and `wrangler kv key delete` removes one.
 */

/**
 * How long a write to KV may take to be seen everywhere: "up to 60 seconds or more"
 * (https://developers.cloudflare.com/kv/concepts/how-kv-works/), the default `cacheTtl` of a read.
 */
export const KV_VISIBILITY_SECONDS = 60;

/**
 * How long an ingest isolate keeps an address's not-before before it reads KV again: each address
 * then costs an isolate at most one KV read per 30 s (the Free plan has 100,000 reads a day).
 */
export const NOT_BEFORE_CACHE_SECONDS = 30;

/** From a revoke's answer until every ingest isolate refuses the tokens it revoked: at most 90 s. */
export const REVOCATION_DELAY_SECONDS = KV_VISIBILITY_SECONDS + NOT_BEFORE_CACHE_SECONDS;

const encoder = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/**
 * The KV key of `address`'s not-before (compared lowercased).
 *
 * @example
 * await env.STATUS.get(await notBeforeKey("ada@example.com")); // "1796601600" or null
 */
export async function notBeforeKey(address: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(address.toLowerCase())));
  let hex = "notbefore:";
  for (const byte of digest) hex += HEX[byte];
  return hex;
}

/**
 * The not-before a revoke at `nowMs` sets, in seconds: rounded up, so that every token issued
 * before the revoke, in the same second included, is refused. A token issued in the rest of that
 * second is refused too; the next second's are not.
 *
 * @example
 * notBeforeAt(1_796_601_600_250); // 1796601601
 */
export function notBeforeAt(nowMs: number): number {
  return Math.ceil(nowMs / 1000);
}

/**
 * A row's value read back: the seconds it holds, or 0 (no address's tokens refused) for no row
 * or one no revoke wrote.
 *
 * @example
 * readNotBefore(await env.STATUS.get(key)); // 1796601601
 */
export function readNotBefore(value: string | null): number {
  if (value === null || !/^[0-9]{1,12}$/.test(value)) return 0;
  return Number(value);
}

/** `POST /ops/tokens/revoke`'s body: the address whose tokens to revoke. */
export interface RevokeTokensRequest {
  to: string;
}

/** `POST /ops/tokens/revoke`'s answer. */
export interface TokensRevoked {
  /** The address, lowercased. */
  to: string;
  /** ISO 8601: tokens issued before it are refused; the address's owner enrols again for a new one. */
  notBefore: string;
  /** Seconds after which every ingest isolate refuses them: {@link REVOCATION_DELAY_SECONDS}. */
  appliesWithinSeconds: number;
}
