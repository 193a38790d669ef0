/**
 * Client tokens bind a client to one recipient, so ingest is no open relay, and say when they were
 * issued, so that an operator can revoke an address's tokens and a deployment may cap their age:
 *
 *   np2.<kid>.<iat>.<base64url(HMAC-SHA256(secret of kid, "np2\n" + iat + "\n" + lowercased recipient))>
 *
 * `iat` is the issue time in whole seconds since the epoch, in decimal without leading zeros; it is
 * inside the MAC, so it cannot be moved. base64url without padding. Tokens of the first form,
 * `np1.<kid>.<base64url(HMAC-SHA256(secret, lowercased recipient))>`, still verify, and read as
 * issued at {@link NP1_ISSUED_AT}: a revoke retires them like any token issued before it, and a
 * maximum age counts from that day (workers/ingest/README.md, "Tokens"). Their MAC input is an
 * address, which holds no newline: no np1 MAC is ever an np2 MAC. WebCrypto only, so the same
 * code runs in workerd and Node 22.
 */

import type { TokenSecrets } from "./secrets.ts";

/** The form every token is issued in. */
export const TOKEN_PREFIX = "np2.";
/** The first form, without an issue time; verified, never issued. */
export const NP1_PREFIX = "np1.";
/** When np1 tokens count as issued: 2026-12-07T00:00:00Z, the day np2 tokens came in (seconds). */
export const NP1_ISSUED_AT = 1_796_601_600;
/** Key ids are what rotation names; they cannot hold the "." that separates the token's parts. */
export const KID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_KID_CHARS = 32;
/** Seconds since the epoch without leading zeros; 12 digits last until the year 33658. */
const IAT_PATTERN = /^[1-9][0-9]{0,11}$/;
const MAX_IAT_CHARS = 12;
/** HMAC-SHA256 output. */
const MAC_BYTES = 32;
/** 32 bytes in base64url without padding: ceil(256 / 6) = 43 characters. */
const MAC_CHARS = 43;
const MIN_TOKEN_CHARS = NP1_PREFIX.length + 1 + 1 + MAC_CHARS;
const MAX_TOKEN_CHARS = TOKEN_PREFIX.length + MAX_KID_CHARS + 1 + MAX_IAT_CHARS + 1 + MAC_CHARS;

/** A token whose shape is right and whose kid is current; its MAC is not checked yet. */
export interface ClientToken {
  kid: string;
  mac: Uint8Array<ArrayBuffer>;
  /** Seconds since the epoch: the token's `iat`, or {@link NP1_ISSUED_AT} for an np1 token. */
  issuedAt: number;
  /** The `iat` as spelled in an np2 token (what its MAC covers); undefined for np1. */
  iat: string | undefined;
}

/**
 * Why a token was refused. `malformed` and `unknown_kid` are decided from the token alone;
 * `wrong_recipient` needs the recipient: a MAC made for another address and a forged one look the same.
 */
export type TokenProblem = "malformed" | "unknown_kid" | "wrong_recipient";

export type ReadTokenResult =
  | { ok: true; token: ClientToken }
  | { ok: false; problem: Exclude<TokenProblem, "wrong_recipient"> };

export type VerifyTokenResult = { ok: true; kid: string } | { ok: false; problem: TokenProblem };

const encoder = new TextEncoder();

// Importing a key costs more than the HMAC itself; a Worker isolate sees the same few secrets for
// its whole life, so each is imported once. Keyed by the secret string, not the kid, so a kid
// reused with a new secret gets a new key.
const keys = new Map<string, Promise<CryptoKey>>();

/** Internal to this package (token.ts and enroll-code.ts); not exported from index.ts. */
export function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (key === undefined) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    keys.set(secret, key);
  }
  return key;
}

// base64url is decoded by hand because it is on the hot path and must be strict: the 43rd
// character carries 2 padding bits, and a decoder that ignores them (atob does) would let four
// spellings of one MAC through, i.e. four rate-limit keys for one token.
const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE64URL_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) BASE64URL_VALUE[BASE64URL_ALPHABET.charCodeAt(i)] = i;

function decodeMac(text: string, start: number): Uint8Array<ArrayBuffer> | null {
  const mac = new Uint8Array(MAC_BYTES);
  let bits = 0;
  let pending = 0;
  let at = 0;
  for (let i = start; i < start + MAC_CHARS; i++) {
    const code = text.charCodeAt(i);
    const value = code < 128 ? (BASE64URL_VALUE[code] as number) : -1;
    if (value < 0) return null;
    pending = (pending << 6) | value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      mac[at++] = pending >> bits;
      pending &= (1 << bits) - 1;
    }
  }
  return pending === 0 ? mac : null;
}

function encodeMac(mac: Uint8Array): string {
  let binary = "";
  for (const byte of mac) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Checks a token's shape and that its kid is current, without any crypto: what can be refused
 * before the request body is read. Reads both forms (np2, and np1 as issued at
 * {@link NP1_ISSUED_AT}). Never throws.
 *
 * @example
 * const read = readClientToken("np2.k2026a.1796601600.3q2-7w…", secrets);
 * if (read.ok) read.token.issuedAt; // 1796601600
 * else read.problem; // "malformed" | "unknown_kid"
 */
export function readClientToken(token: string, secrets: TokenSecrets): ReadTokenResult {
  if (token.length < MIN_TOKEN_CHARS || token.length > MAX_TOKEN_CHARS) return { ok: false, problem: "malformed" };
  const np2 = token.startsWith(TOKEN_PREFIX);
  if (!np2 && !token.startsWith(NP1_PREFIX)) return { ok: false, problem: "malformed" };
  const macStart = token.length - MAC_CHARS;
  if (token.charCodeAt(macStart - 1) !== 0x2e /* "." */) return { ok: false, problem: "malformed" };
  let kidEnd = macStart - 1;
  let iat: string | undefined;
  if (np2) {
    kidEnd = token.lastIndexOf(".", macStart - 2);
    if (kidEnd < TOKEN_PREFIX.length) return { ok: false, problem: "malformed" };
    iat = token.slice(kidEnd + 1, macStart - 1);
    if (!IAT_PATTERN.test(iat)) return { ok: false, problem: "malformed" };
  }
  const kid = token.slice(NP1_PREFIX.length, kidEnd);
  if (!KID_PATTERN.test(kid)) return { ok: false, problem: "malformed" };
  const mac = decodeMac(token, macStart);
  if (mac === null) return { ok: false, problem: "malformed" };
  // parseTokenSecrets only admits kids matching KID_PATTERN, so a kid that passed above and is
  // missing here was retired (or never issued).
  if (!secrets.has(kid)) return { ok: false, problem: "unknown_kid" };
  return { ok: true, token: { kid, mac, issuedAt: iat === undefined ? NP1_ISSUED_AT : Number(iat), iat } };
}

/** What a token's MAC covers: the recipient alone for np1, the form and `iat` before it for np2. */
function macInput(iat: string | undefined, recipient: string): Uint8Array<ArrayBuffer> {
  const address = recipient.toLowerCase();
  return encoder.encode(iat === undefined ? address : `np2\n${iat}\n${address}`);
}

/**
 * Verifies that `token` was issued for `recipient` (compared lowercased) with a current kid.
 * Constant time (`crypto.subtle.verify`). Never throws, whatever the token holds.
 * Pass the result of {@link readClientToken} to skip parsing the token twice.
 *
 * @example
 * const verdict = await verifyClientToken(token, frame.recipient, secrets);
 * if (!verdict.ok) verdict.problem; // "malformed" | "unknown_kid" | "wrong_recipient"
 */
export async function verifyClientToken(
  token: string | ClientToken,
  recipient: string,
  secrets: TokenSecrets,
): Promise<VerifyTokenResult> {
  let parsed: ClientToken;
  if (typeof token === "string") {
    const read = readClientToken(token, secrets);
    if (!read.ok) return read;
    parsed = read.token;
  } else {
    parsed = token;
  }
  const secret = secrets.get(parsed.kid);
  if (secret === undefined) return { ok: false, problem: "unknown_kid" };
  const valid = await crypto.subtle.verify("HMAC", await hmacKey(secret), parsed.mac, macInput(parsed.iat, recipient));
  return valid ? { ok: true, kid: parsed.kid } : { ok: false, problem: "wrong_recipient" };
}

/**
 * Issues an np2 token for `recipient` with the secret of `kid`, issued at `nowMs` (whole seconds
 * count). Throws if `kid` is not in `secrets`.
 *
 * @example
 * await signClientToken(parseTokenSecrets(DEV_TOKEN_SECRETS), "dev", "ada@example.com");
 * // "np2.dev.1796601600.…"
 */
export async function signClientToken(
  secrets: TokenSecrets,
  kid: string,
  recipient: string,
  nowMs: number = Date.now(),
): Promise<string> {
  const secret = secrets.get(kid);
  if (secret === undefined) throw new RangeError(`No secret for kid "${kid}".`);
  const iat = String(Math.floor(nowMs / 1000));
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret), macInput(iat, recipient));
  return `${TOKEN_PREFIX}${kid}.${iat}.${encodeMac(new Uint8Array(mac))}`;
}
