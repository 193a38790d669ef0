/**
 * Resend's rate limit: by default 5 requests per second per team (resend-contract.ts,
 * `rate-limit`), counted here per API key, in one-second windows. Every answer carries
 * `ratelimit-limit`, `ratelimit-remaining` and `ratelimit-reset`; a 429 adds `retry-after`.
 */

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Whole seconds until the window resets: at least 1 while a window is open. */
  resetSeconds: number;
}

interface Window {
  startedAt: number;
  count: number;
}

export class RateLimiter {
  #perSecond: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  /** `perSecond` 0 turns the limit off. */
  constructor(perSecond: number, now: () => number) {
    this.#perSecond = perSecond;
    this.#now = now;
  }

  get perSecond(): number {
    return this.#perSecond;
  }

  set perSecond(value: number) {
    this.#perSecond = value;
    this.#windows.clear();
  }

  /** Counts one request for `key` and says whether it is within the limit. */
  take(key: string): RateDecision | null {
    if (this.#perSecond === 0) return null;
    const now = this.#now();
    let window = this.#windows.get(key);
    if (window === undefined || now - window.startedAt >= 1000) {
      window = { startedAt: now, count: 0 };
      this.#windows.set(key, window);
    }
    window.count++;
    const resetSeconds = Math.max(1, Math.ceil((window.startedAt + 1000 - now) / 1000));
    return {
      allowed: window.count <= this.#perSecond,
      limit: this.#perSecond,
      remaining: Math.max(0, this.#perSecond - window.count),
      resetSeconds,
    };
  }

  clear(): void {
    this.#windows.clear();
  }
}
