/**
 * Enrollment codes: the code emailed to an address to prove its owner reads it, traded for that
 * address's client token (ingest's POST /v1/tokens/code and POST /v1/tokens).
 *
 * A code is random and exists only where ingest stored it: the address's EnrollmentGuard keeps its
 * MAC (never the code), single use, for {@link CODE_LIFETIME_MS}. So nobody can compute a valid
 * code for an address nobody asked a code for, and every guess is a guess at a code whose email
 * its owner received.
 *
 * Form: 8 characters of Crockford's base32 (https://www.crockford.com/base32.html): 32^8 = 2^40
 * codes, 40 random bits. Why that long: workers/ingest/README.md ("Enrollment", the guessing
 * bound) needs at least 1.8 × 10^10 codes for one address's yearly guesses to hit with odds under
 * 10^-6. No I, L, O or U, so nothing reads as another character; a typed code is read upper-cased,
 * without spaces or hyphens, with O as 0 and I or L as 1, as Crockford's decoding does.
 */

import { hmacKey } from "./token.ts";

/** Crockford's base32 alphabet. */
const CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const CODE_LENGTH = 8;
/** A code as ingest makes, emails and stores it; {@link readEnrollmentCode} brings a typed one to this form. */
export const CODE_PATTERN = /^[0-9A-HJKMNP-TV-Z]{8}$/;
/** How long a code is accepted after it is made: what the code email says (CODE_TEXT, wrangler.deliver.toml). */
export const CODE_LIFETIME_MS = 10 * 60 * 1000;

const encoder = new TextEncoder();

/**
 * A fresh random code: 5 random bytes, 5 bits a character, so every code is equally likely.
 *
 * @example
 * makeEnrollmentCode(); // "7KQ2M9XD"
 */
export function makeEnrollmentCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  let bits = 0n;
  for (const byte of bytes) bits = (bits << 8n) | BigInt(byte);
  let code = "";
  for (let i = CODE_LENGTH - 1; i >= 0; i--) code += CODE_ALPHABET[Number((bits >> BigInt(i * 5)) & 31n)];
  return code;
}

/**
 * A code as a person typed it, in the form ingest stores (upper case, no spaces or hyphens, O read
 * as 0, I and L as 1), or undefined when it cannot be a code at all.
 *
 * @example
 * readEnrollmentCode("7kq2-m9xd"); // "7KQ2M9XD"
 * readEnrollmentCode("123456"); // undefined
 */
export function readEnrollmentCode(typed: string): string | undefined {
  // 64 characters is far past any way of typing 8; a longer string is not worth reading.
  if (typed.length > 64) return undefined;
  const code = typed.replace(/[\s-]/g, "").toUpperCase().replace(/O/g, "0").replace(/[IL]/g, "1");
  return CODE_PATTERN.test(code) ? code : undefined;
}

/**
 * What the guard stores of a code: HMAC-SHA256 under an `ENROLL_SECRETS` secret of the address and
 * the code, so that the stored bytes alone do not give the code back, even by trying all 2^40.
 *
 * @example
 * await enrollmentCodeMac(secret, "ada@example.com", "7KQ2M9XD"); // 32 bytes
 */
export async function enrollmentCodeMac(
  secret: string,
  address: string,
  code: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const data = encoder.encode(`notepipe-enroll-v2\n${address.toLowerCase()}\n${code}`);
  return new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), data));
}

/**
 * Two MACs compared without an early exit: the time taken says nothing about a near miss.
 *
 * @example
 * sameMac(stored, await enrollmentCodeMac(secret, to, code));
 */
export function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) difference |= (a[i] as number) ^ (b[i] as number);
  return difference === 0;
}
