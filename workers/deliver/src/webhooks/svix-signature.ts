/**
 * Svix webhook signatures, as Resend sends them (https://docs.svix.com/receiving/verifying-payloads/how-manual):
 * headers `svix-id`, `svix-timestamp` (Unix seconds) and `svix-signature`, a space-separated list
 * of `v1,<base64 HMAC-SHA256>` (several during a secret rotation); the secret is `whsec_<base64 key>`
 * and the signed content is `${id}.${timestamp}.${body}`, the body exactly as received.
 *
 * By hand with WebCrypto rather than the `svix` or `standardwebhooks` package: workerd has HMAC
 * natively, and `crypto.subtle.timingSafeEqual` compares in constant time; `standardwebhooks`
 * (which `svix` wraps) would add ~12.5 KB minified (~4.9 KB gzip) of JavaScript SHA-256 and base64
 * to do the same in slower code. The tests check this against the Svix documentation's own example.
 *
 * The headers come from anyone, so what they can cost is bounded before any crypto runs: they are
 * read and checked first ({@link readSvixHeaders}, no body needed), and a request costs one HMAC
 * however many signatures it lists (an HMAC over a 256 KiB body is ~0.3 ms; one per entry, a 32 KB
 * header of entries would have bought ~190 ms of CPU).
 */

/** Svix's own tolerance: older or newer timestamps are refused, so a captured request soon expires. */
export const SVIX_TOLERANCE_SECONDS = 5 * 60;
/** A rotation lists the old secret's signature and the new one's; 8 leaves room and bounds the work. */
export const MAX_SVIX_SIGNATURES = 8;
/**
 * A `v1` entry is 47 characters ("v1," + 44 of base64), a `v1a` (ed25519) one 92: eight of either
 * and their spaces fit in 1 KiB, checked before the header is split.
 */
export const MAX_SVIX_SIGNATURE_CHARS = 1024;
/** Svix ids are `msg_` and a 27-character KSUID; the id is signed and kept as the event's id. */
const MAX_SVIX_ID_CHARS = 256;
const SECRET_PREFIX = "whsec_";
/** HMAC-SHA256's output; an entry of any other length cannot match and is never compared. */
const MAC_BYTES = 32;

export interface SvixHeaders {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

/** Headers that may be worth an HMAC: bounded, fresh, with the `v1` signatures decoded. */
export interface SvixClaim {
  id: string;
  timestamp: string;
  signatures: Uint8Array[];
}

export type SvixProblem = "missing_headers" | "stale_timestamp" | "bad_signature";

export type SvixVerdict = { ok: true; id: string; timestamp: number } | { ok: false; problem: SvixProblem };

const encoder = new TextEncoder();
let cachedKey: { secret: string; key: Promise<CryptoKey> } | undefined;

/** The HMAC key of a `whsec_…` secret, or null if it is not one. Imported once per isolate. */
export function svixKey(secret: string | undefined): Promise<CryptoKey> | null {
  if (secret === undefined || !secret.startsWith(SECRET_PREFIX)) return null;
  if (cachedKey?.secret === secret) return cachedKey.key;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = Uint8Array.fromBase64(secret.slice(SECRET_PREFIX.length));
  } catch {
    return null;
  }
  if (bytes.length === 0) return null;
  const key = crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  cachedKey = { secret, key };
  return key;
}

/**
 * Everything that can be decided from the headers alone, before the body is read and without
 * crypto: presence, sizes, the timestamp's freshness, and the signature list's shape.
 *
 * @example
 * const claim = readSvixHeaders({ id, timestamp, signature }, Date.now());
 * if (!claim.ok) refuse(claim.problem); // no body read, no HMAC
 */
export function readSvixHeaders(
  headers: SvixHeaders,
  nowMs: number,
): { ok: true; claim: SvixClaim } | { ok: false; problem: SvixProblem } {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return { ok: false, problem: "missing_headers" };
  if (id.length > MAX_SVIX_ID_CHARS || signature.length > MAX_SVIX_SIGNATURE_CHARS) {
    return { ok: false, problem: "bad_signature" };
  }
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, problem: "stale_timestamp" };
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > SVIX_TOLERANCE_SECONDS) {
    return { ok: false, problem: "stale_timestamp" };
  }

  const entries = signature.split(" ");
  if (entries.length > MAX_SVIX_SIGNATURES) return { ok: false, problem: "bad_signature" };
  const signatures: Uint8Array[] = [];
  for (const entry of entries) {
    const [version, value] = entry.split(",", 2);
    // Other versions (v1a, ed25519) are Svix's too; Resend signs with v1 only.
    if (version !== "v1" || value === undefined) continue;
    try {
      const mac = Uint8Array.fromBase64(value);
      if (mac.length === MAC_BYTES) signatures.push(mac);
    } catch {
      // Not base64: it cannot match; the others may.
    }
  }
  if (signatures.length === 0) return { ok: false, problem: "bad_signature" };
  return { ok: true, claim: { id, timestamp, signatures } };
}

/**
 * One HMAC over `${id}.${timestamp}.${body}`, compared in constant time with every listed
 * signature (a match does not stop the loop).
 *
 * @example
 * const verdict = await verifySvixClaim(key, claim, rawBody);
 */
export async function verifySvixClaim(key: CryptoKey, claim: SvixClaim, body: string): Promise<SvixVerdict> {
  const { id, timestamp, signatures } = claim;
  const expected = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(`${id}.${timestamp}.${body}`)));
  let valid = false;
  for (const mac of signatures) valid = crypto.subtle.timingSafeEqual(mac, expected) || valid;
  return valid ? { ok: true, id, timestamp: Number(timestamp) } : { ok: false, problem: "bad_signature" };
}

/**
 * Both steps at once, for a caller that already holds the body.
 *
 * @example
 * const verdict = await verifySvixSignature(key, { id, timestamp, signature }, rawBody, Date.now());
 * if (!verdict.ok) refuse(verdict.problem);
 */
export async function verifySvixSignature(
  key: CryptoKey,
  headers: SvixHeaders,
  body: string,
  nowMs: number,
): Promise<SvixVerdict> {
  const read = readSvixHeaders(headers, nowMs);
  return read.ok ? verifySvixClaim(key, read.claim, body) : read;
}
