/**
 * Comparing a presented secret (an ops token, a webhook password) with the configured ones in time
 * that does not depend on where they differ: both sides are hashed to 32 bytes, so that lengths
 * leak nothing either, and compared with workerd's `crypto.subtle.timingSafeEqual`.
 */

const encoder = new TextEncoder();

export async function digestSecret(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/**
 * Whether `presented` hashes to one of `expected` (digests from {@link digestSecret}). Every
 * candidate is compared, without stopping at a match.
 *
 * @example
 * await matchesAnySecret(token, await Promise.all(tokens.map(digestSecret)));
 */
export async function matchesAnySecret(presented: string, expected: readonly Uint8Array[]): Promise<boolean> {
  const digest = await digestSecret(presented);
  let match = false;
  for (const candidate of expected) match = crypto.subtle.timingSafeEqual(digest, candidate) || match;
  return match;
}

/** Digests per isolate, recomputed when the secret's text changes (a `wrangler secret put`). */
export function cachedDigests(): (secret: string, values: readonly string[]) => Promise<Uint8Array[]> {
  let cached: { secret: string; digests: Promise<Uint8Array[]> } | undefined;
  return (secret, values) => {
    if (cached?.secret !== secret) cached = { secret, digests: Promise.all(values.map(digestSecret)) };
    return cached.digests;
  };
}
