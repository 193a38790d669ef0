/**
 * Enrollment codes: the six digits emailed to an address to prove its owner reads it, traded for
 * that address's client token (ingest's POST /v1/tokens/code and POST /v1/tokens).
 *
 * Stateless: a code is `HMAC-SHA256(secret of kid, "notepipe-enroll-v1" | step | lowercased
 * address)` read as six decimal digits, where `step` counts 10-minute periods since the epoch. So
 * issuing one writes nothing, and checking one reads nothing: no KV write (the Free plan has 1,000
 * a day), no row per code. What a store would add is single use, and it buys nothing here: the
 * token a code buys is itself a deterministic HMAC of the address, so a code used twice buys the
 * same token twice, to whoever already proved they read that inbox.
 *
 * Validity: a code is accepted in its own step and the next one, so it lives from 10 to 20 minutes
 * after it was made (at least the 10 minutes the email promises, never more than 20).
 *
 * Kids: six digits have no room for one, so a code is checked against every current kid (the first
 * kid listed signs). Removing a kid from `ENROLL_SECRETS` retires its codes at once. The price:
 * while n kids are current, 2n codes per address are valid at a time, not 2, so a guess is n times
 * likelier to hit; keep a second kid only for the 20 minutes a rotation needs.
 */

import type { TokenSecrets } from "./secrets.ts";
import { hmacKey } from "./token.ts";

/** One code period. */
export const CODE_STEP_MS = 10 * 60 * 1000;
/** A code is accepted in its own step and this many after it. */
const STEPS_AFTER = 1;
export const CODE_PATTERN = /^[0-9]{6}$/;
const CODE_MODULUS = 1_000_000;

const encoder = new TextEncoder();

async function codeFor(secret: string, address: string, step: number): Promise<string> {
  const data = encoder.encode(`notepipe-enroll-v1\n${step}\n${address.toLowerCase()}`);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), data));
  // 48 bits mod 10^6: the bias toward low codes is under 2^-28 per code, unlike 32 bits' 2^-12.
  let value = 0;
  for (let i = 0; i < 6; i++) value = value * 256 + (mac[i] as number);
  return String(value % CODE_MODULUS).padStart(6, "0");
}

function stepAt(now: number): number {
  return Math.floor(now / CODE_STEP_MS);
}

/** Two six-digit strings compared without an early exit: the time taken says nothing about a near miss. */
function sameCode(a: string, b: string): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < 6; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/**
 * The code for `address` now, under the first kid of `secrets`.
 *
 * @example
 * await makeEnrollmentCode(parseEnrollSecrets(DEV_ENROLL_SECRETS), "ada@example.com"); // "048213"
 */
export async function makeEnrollmentCode(
  secrets: TokenSecrets,
  address: string,
  now: number = Date.now(),
): Promise<string> {
  const first = secrets.values().next();
  if (first.done) throw new RangeError("No enrollment secret.");
  return codeFor(first.value, address, stepAt(now));
}

/**
 * When a code made at `now` stops being accepted: the end of the step after its own, 10 to 20
 * minutes on. Deliver drops a code email still unsent by then.
 *
 * @example
 * enrollmentCodeExpiry(Date.parse("2026-12-01T12:04:00Z")); // 2026-12-01T12:20:00Z
 */
export function enrollmentCodeExpiry(now: number = Date.now()): number {
  return (stepAt(now) + STEPS_AFTER + 1) * CODE_STEP_MS;
}

/**
 * Whether `code` is one {@link makeEnrollmentCode} made for `address` (compared lowercased), under a
 * current kid, in this step or the one before. Every candidate is computed and compared whatever
 * matched, in constant time. Never throws.
 *
 * @example
 * await checkEnrollmentCode(secrets, "Ada@Example.com", "048213"); // true within 10 to 20 minutes
 */
export async function checkEnrollmentCode(
  secrets: TokenSecrets,
  address: string,
  code: string,
  now: number = Date.now(),
): Promise<boolean> {
  // The format is public: refusing a malformed code early says nothing about the right one.
  if (!CODE_PATTERN.test(code)) return false;
  const step = stepAt(now);
  const candidates: Promise<string>[] = [];
  for (const secret of secrets.values()) {
    for (let back = 0; back <= STEPS_AFTER; back++) candidates.push(codeFor(secret, address, step - back));
  }
  let matched = false;
  for (const candidate of await Promise.all(candidates)) matched = sameCode(candidate, code) || matched;
  return matched;
}
