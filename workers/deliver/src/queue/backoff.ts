/**
 * How long a note waits before its next attempt. Every delay is a whole number of seconds between
 * 1 and {@link MAX_DELAY_SECONDS}:
 * - at least 1 s, because a `retrying` record is written just before `msg.retry()`, and KV allows
 *   one write per second to a key (https://developers.cloudflare.com/kv/platform/limits/): the next
 *   write for that note cannot come sooner than its redelivery;
 * - at most 12 h, the longest `delaySeconds` Queues has always accepted.
 */

export const MAX_DELAY_SECONDS = 43_200;

export interface RetrySettings {
  /** The first transient retry waits up to this long; each further one doubles it. */
  baseSeconds: number;
  /** No delay is longer (itself at most {@link MAX_DELAY_SECONDS}). */
  maxSeconds: number;
  /** The wait after a pipeline-level failure (a bad key, an unverified sender, a used-up quota). */
  pipelineSeconds: number;
}

/**
 * Capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter", 2015): a random delay up to `base × 2^(attempts − 1)`, capped. When the provider says
 * when to come back (Retry-After, as on Resend's 429 at its 2 requests/s), that is the delay, plus
 * at most a second of jitter: backing off further only idles the account's rate budget (a bench run
 * that waited up to 30 s after a 1 s Retry-After sustained 33 notes/s instead of ~170).
 *
 * @example
 * retryDelaySeconds(3, { baseSeconds: 30, maxSeconds: 43_200, pipelineSeconds: 3600 }, null); // 1…120
 * retryDelaySeconds(3, { baseSeconds: 30, maxSeconds: 43_200, pipelineSeconds: 3600 }, 1); // 1 or 2
 */
export function retryDelaySeconds(
  attempts: number,
  settings: RetrySettings,
  retryAfterSeconds: number | null,
  random: () => number = Math.random,
): number {
  const cap = Math.max(1, Math.min(settings.maxSeconds, MAX_DELAY_SECONDS));
  if (retryAfterSeconds !== null) {
    return Math.min(cap, Math.max(1, Math.ceil(retryAfterSeconds) + Math.floor(random() * 2)));
  }
  // 2^30 already exceeds any cap; a larger exponent would only risk Infinity.
  const ceiling = Math.min(cap, settings.baseSeconds * 2 ** Math.min(Math.max(attempts, 1) - 1, 30));
  const jittered = Math.max(1, Math.ceil(random() * ceiling));
  return Math.min(cap, jittered);
}

/**
 * One fixed delay for a pipeline-level failure, the same for every note of the batch so that they
 * come back together and the next attempt costs one request, not one per note.
 */
export function pipelineDelaySeconds(settings: RetrySettings, retryAfterSeconds: number | null): number {
  const cap = Math.max(1, Math.min(settings.maxSeconds, MAX_DELAY_SECONDS));
  return Math.min(cap, Math.max(1, settings.pipelineSeconds, Math.ceil(retryAfterSeconds ?? 0)));
}

/**
 * Reads a Retry-After header (RFC 9110 §10.2.3): delay-seconds or an HTTP date. Null when absent
 * or unreadable.
 *
 * @example
 * parseRetryAfter("120", Date.now()); // 120
 * parseRetryAfter("Wed, 21 Oct 2026 07:28:00 GMT", Date.parse("2026-10-21T07:27:00Z")); // 60
 */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  // An HTTP date names its day and month; V8's Date.parse would also read "-5" or "1.5" as dates.
  if (!/[a-z]{3}/i.test(text)) return null;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/** The first wait after the ledger could not be reached; each further one doubles it. */
const OUTAGE_BASE_SECONDS = 60;

/**
 * The wait after the delivery ledger (or another store a decision needs) could not be reached:
 * nothing was decided, so nothing is lost by waiting. "Equal jitter": at least half of a doubling
 * ceiling, so that the `notes` queue's 10 retries add up to at least 8.5 h (60 s × (2^10 − 1) / 2)
 * and ride out an outage of several hours, yet a fleet of waiting notes does not come back at once.
 *
 * @example
 * outageDelaySeconds(1); // 30…60
 * outageDelaySeconds(5); // 480…960
 */
export function outageDelaySeconds(attempts: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_DELAY_SECONDS, OUTAGE_BASE_SECONDS * 2 ** Math.min(Math.max(attempts, 1) - 1, 30));
  return Math.min(MAX_DELAY_SECONDS, Math.max(1, Math.ceil(ceiling / 2 + (random() * ceiling) / 2)));
}
