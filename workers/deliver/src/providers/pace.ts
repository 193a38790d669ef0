/**
 * Pacing by the provider's own rate-limit headers. Resend allows a team 5 requests per second by
 * default (https://resend.com/docs/api-reference/rate-limit) and says how many are left on every
 * answer (`ratelimit-remaining`, `ratelimit-reset`: whole seconds until the window resets; a 429
 * adds `retry-after`). When an answer says the window is used up, the next request waits in the
 * isolate until it resets, instead of earning a 429 and a trip through the queue. Only an optimisation: the 429/Retry-After path stays for everything this
 * does not cover (another isolate, a longer wait, a provider without the headers, such as Postmark).
 */

/**
 * The longest wait taken in the isolate. A queue consumer may run 15 minutes of wall time, and a
 * timer costs no CPU, but a longer wait (a used-up quota, a provider asking for minutes) is better
 * left to the queue's own delay: the request goes out, the 429 retries the batch after Retry-After.
 */
export const MAX_PACE_WAIT_MS = 10_000;

/** A header value above a day's seconds is no window the provider means: clamped (never a wait). */
const MAX_HEADER_SECONDS = 86_400;

interface Pace {
  /** No request before this time (ms since the epoch), if set. */
  notBefore?: number;
  /** The provider's current window as the last answer showed it: the budget left, and a latest end. */
  window?: { remaining: number; endsBy: number };
}

/** Per API URL. Isolate memory, lost on eviction: the 429 path is the backstop. */
const paces = new Map<string, Pace>();

/**
 * Remembers what an answer from `url` says about the next request: `ratelimit-remaining: 0` with
 * `ratelimit-reset: R`, or a 429's Retry-After R, means none before `now + R` s (the later of the
 * two when both are given). Any other answer forgets what an earlier one said.
 *
 * The reset is whole seconds rounded up, so `now + R` can overshoot the window's real end by most
 * of a second, a second wasted per window. Every answer bounds its window's end the same way, and
 * the window's first answer came earliest: while the budget only goes down and that bound has not
 * passed, the answers are of one window and the earliest bound is the one to wait for. (Were it
 * wrong, say another client used the budget, the cost is one 429.)
 *
 * @example
 * rememberRateLimit(url, 200, new Headers({ "ratelimit-remaining": "0", "ratelimit-reset": "1" }), null, now);
 * paceDelayMs(url, now); // 1000
 */
export function rememberRateLimit(
  url: string,
  status: number,
  headers: Headers,
  retryAfterSeconds: number | null,
  now: number,
): void {
  const pace: Pace = {};
  const remaining = wholeNumber(headers.get("ratelimit-remaining"));
  const reset = wholeNumber(headers.get("ratelimit-reset"));
  if (remaining !== null && reset !== null && reset > 0) {
    const last = paces.get(url)?.window;
    const sameWindow = last !== undefined && remaining < last.remaining && now < last.endsBy;
    const endsBy = sameWindow ? Math.min(last.endsBy, now + reset * 1000) : now + reset * 1000;
    pace.window = { remaining, endsBy };
    if (remaining === 0) pace.notBefore = endsBy;
  }
  if (status === 429 && retryAfterSeconds !== null && Number.isFinite(retryAfterSeconds) && retryAfterSeconds > 0) {
    const until = now + Math.min(Math.ceil(retryAfterSeconds), MAX_HEADER_SECONDS) * 1000;
    pace.notBefore = Math.max(pace.notBefore ?? 0, until);
  }
  paces.set(url, pace);
}

/** How long a request to `url` should wait now: 0 when nothing is known, or when the wait is over the cap. */
export function paceDelayMs(url: string, now: number): number {
  const until = paces.get(url)?.notBefore;
  if (until === undefined) return 0;
  const wait = until - now;
  return wait > 0 && wait <= MAX_PACE_WAIT_MS ? wait : 0;
}

/**
 * Waits out {@link paceDelayMs}: wall time on a timer, no CPU. setTimeout rather than
 * `scheduler.wait` so that tests can drive it with fake timers.
 */
export async function paceRequest(url: string): Promise<void> {
  const wait = paceDelayMs(url, Date.now());
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** Forgets everything remembered: for tests, which share one isolate and one API URL. */
export function resetPacing(): void {
  paces.clear();
}

/** A header holding a non-negative whole number (clamped to a day's seconds), else null. */
function wholeNumber(value: string | null): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (!/^\d{1,15}$/.test(text)) return null;
  return Math.min(Number(text), MAX_HEADER_SECONDS);
}
