/**
 * The console's session: an ops token, presented once at sign-in, traded for a cookie that says
 * "signed in until T" under an HMAC keyed by that token. No secret of its own and no session store:
 * a cookie verifies only under a token that is in `OPS_TOKENS` now, so removing a token from the
 * secret ends every session made from it, as it ends that token's API calls.
 *
 * The cookie is `__Host-` (Secure, Path=/, no Domain: no sibling host can set or overwrite it),
 * HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it). Each form carries
 * a CSRF token, an HMAC of the session's random id under the same key, checked in constant time
 * (`crypto.subtle.verify`), beside an Origin check (csrf.ts).
 *
 * Signing out clears the browser's cookie; the value itself would verify until its expiry (8 h),
 * since nothing is stored to revoke it: removing the token from `OPS_TOKENS` ends it at once.
 */

import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { cachedDigests, digestSecret } from "../http/secret-compare.ts";
import { parseOpsTokens } from "../ops/auth.ts";

/** Sent as `__Host-notepipe-ops`. */
const COOKIE = "notepipe-ops";
/** A working day: long enough not to sign in twice a shift, short enough that a lost cookie dies the same day. */
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;
/** Domain separation: the key that signs sessions is not the token itself, nor usable as one. */
const SESSION_KEY_LABEL = "notepipe ops console session v1";

const encoder = new TextEncoder();

/** A verified session: its random id (what CSRF tokens are bound to) and the key of the token it came from. */
export interface Session {
  id: string;
  expiresAt: number;
  key: CryptoKey;
}

/** One HMAC key per current token, derived once per isolate and recomputed when the secret changes. */
let cachedKeys: { secret: string | undefined; keys: Promise<CryptoKey[]> } | undefined;

function sessionKeys(secret: string | undefined): Promise<CryptoKey[]> {
  if (cachedKeys !== undefined && cachedKeys.secret === secret) return cachedKeys.keys;
  const keys = Promise.all((parseOpsTokens(secret) ?? []).map(keyOf));
  cachedKeys = { secret, keys };
  return keys;
}

async function hmacKey(raw: BufferSource): Promise<CryptoKey> {
  return await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

/** HMAC-SHA256(token, label): a key per token, so that a session names no token and forges under none. */
async function keyOf(token: string): Promise<CryptoKey> {
  const derived = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(encoder.encode(token)),
    encoder.encode(SESSION_KEY_LABEL),
  );
  return await hmacKey(derived);
}

async function mac(key: CryptoKey, text: string): Promise<string> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(text))).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

/** Constant time: WebCrypto's HMAC verify compares the whole tag whatever the first wrong byte. */
async function macMatches(key: CryptoKey, text: string, tag: string): Promise<boolean> {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = Uint8Array.fromBase64(tag, { alphabet: "base64url" });
  } catch {
    return false;
  }
  // One spelling per tag: the unpadded base64url `mac` writes, nothing that merely decodes alike.
  if (bytes.toBase64({ alphabet: "base64url", omitPadding: true }) !== tag) return false;
  return await crypto.subtle.verify("HMAC", key, bytes, encoder.encode(text));
}

const tokenDigests = cachedDigests();

/**
 * The session key of the current token that equals `presented`, or null: each token is compared
 * as the ops API compares it (SHA-256 of both sides, `timingSafeEqual`), without stopping at a match.
 */
export async function keyForToken(secret: string | undefined, presented: string): Promise<CryptoKey | null> {
  const tokens = parseOpsTokens(secret);
  if (secret === undefined || tokens === null) return null;
  const digest = await digestSecret(presented);
  const [digests, keys] = await Promise.all([tokenDigests(secret, tokens), sessionKeys(secret)]);
  let found: CryptoKey | null = null;
  for (const [i, expected] of digests.entries()) {
    if (crypto.subtle.timingSafeEqual(digest, expected)) found = keys[i] ?? null;
  }
  return found;
}

/**
 * Sets the session cookie for a token's key, valid `SESSION_TTL_MS` from `now`.
 *
 * @example
 * const key = await keyForToken(c.env.OPS_TOKENS, form.token);
 * if (key !== null) await startSession(c, key, Date.now());
 */
export async function startSession(c: Context, key: CryptoKey, now: number): Promise<void> {
  const id = crypto.getRandomValues(new Uint8Array(16)).toBase64({ alphabet: "base64url", omitPadding: true });
  const expiresAt = now + SESSION_TTL_MS;
  const body = `${expiresAt}.${id}`;
  setCookie(c, COOKIE, `${body}.${await mac(key, `session.${body}`)}`, {
    prefix: "host",
    httpOnly: true,
    sameSite: "Strict",
    maxAge: SESSION_TTL_MS / 1000,
  });
}

export function endSession(c: Context): void {
  setCookie(c, COOKIE, "", { prefix: "host", httpOnly: true, sameSite: "Strict", maxAge: 0 });
}

/**
 * The request's session, if its cookie verifies under a current token and has not expired. Every
 * current token's key is tried, without stopping at a match.
 */
export async function readSession(c: Context, opsTokens: string | undefined, now: number): Promise<Session | null> {
  const value = getCookie(c, COOKIE, "host");
  const parts = value?.split(".");
  if (parts?.length !== 3) return null;
  const [expires, id, tag] = parts as [string, string, string];
  const expiresAt = Number(expires);
  if (!/^\d{13}$/.test(expires) || expiresAt <= now || expiresAt > now + SESSION_TTL_MS) return null;
  let session: Session | null = null;
  for (const key of await sessionKeys(opsTokens)) {
    if (await macMatches(key, `session.${expires}.${id}`, tag)) session = { id, expiresAt, key };
  }
  return session;
}

/**
 * The session Cloudflare Access vouched for (access.ts): its subject and issue time are its id, and
 * its forms' CSRF tokens are keyed by the first current ops token's key; null without one.
 */
export async function accessSession(
  opsTokens: string | undefined,
  identity: { subject: string; issuedAt: number; expiresAt: number },
): Promise<Session | null> {
  const key = (await sessionKeys(opsTokens))[0];
  return key === undefined
    ? null
    : { id: `${identity.subject}.${identity.issuedAt}`, expiresAt: identity.expiresAt, key };
}

/** The CSRF token every form of a session carries. */
export function csrfTokenOf(session: Session): Promise<string> {
  return mac(session.key, `csrf.${session.id}`);
}

/** Whether `presented` is this session's CSRF token, compared in constant time. */
export function csrfTokenMatches(session: Session, presented: string): Promise<boolean> {
  return macMatches(session.key, `csrf.${session.id}`, presented);
}
