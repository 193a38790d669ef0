import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_DELAY_SECONDS, parseRetryAfter, pipelineDelaySeconds, retryDelaySeconds } from "../src/queue/backoff.ts";

const SETTINGS = { baseSeconds: 30, maxSeconds: 43_200, pipelineSeconds: 3600 };
const TOP = (): number => 0.999_999;
const BOTTOM = (): number => 0;

describe("retryDelaySeconds", () => {
  it.each([
    // attempts, random, Retry-After, delay
    [1, TOP, null, 30],
    [2, TOP, null, 60],
    [5, TOP, null, 480],
    [11, TOP, null, 30_720],
    [12, TOP, null, 43_200], // 61,440 capped at 12 h
    [40, TOP, null, 43_200],
    [1, BOTTOM, null, 1], // full jitter reaches down to 1 s, never 0
    [3, (): number => 0.5, null, 60],
    [1, BOTTOM, 120, 120], // Retry-After is a floor
    [1, TOP, 5, 6], // the provider said when: Retry-After plus at most 1 s, not the backoff
    [6, TOP, 1, 2], // however many attempts came before
    [1, BOTTOM, 100_000, 43_200], // and it is capped too
  ] as const)("attempt %i, random %o, Retry-After %o: %i s", (attempts, random, retryAfter, delay) => {
    expect(retryDelaySeconds(attempts, SETTINGS, retryAfter, random)).toBe(delay);
  });

  it("honours a lower RETRY_MAX_SECONDS", () => {
    expect(retryDelaySeconds(9, { ...SETTINGS, baseSeconds: 1, maxSeconds: 2 }, null, TOP)).toBe(2);
  });

  it("is always a whole number of seconds from 1 to the cap, and never before Retry-After", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 3600 }),
        fc.integer({ min: 1, max: MAX_DELAY_SECONDS * 2 }),
        fc.option(fc.integer({ min: 0, max: MAX_DELAY_SECONDS * 2 })),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempts, baseSeconds, maxSeconds, retryAfter, random) => {
          const settings = { baseSeconds, maxSeconds, pipelineSeconds: 3600 };
          const delay = retryDelaySeconds(attempts, settings, retryAfter, () => random);
          const cap = Math.min(maxSeconds, MAX_DELAY_SECONDS);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(1);
          expect(delay).toBeLessThanOrEqual(cap);
          if (retryAfter !== null) expect(delay).toBeGreaterThanOrEqual(Math.min(retryAfter, cap));
        },
      ),
    );
  });
});

describe("pipelineDelaySeconds", () => {
  it.each([
    [null, 3600],
    [60, 3600],
    [7200, 7200], // a quota's Retry-After until the reset
    [90_000, 43_200],
  ] as const)("Retry-After %o: %i s", (retryAfter, delay) => {
    expect(pipelineDelaySeconds(SETTINGS, retryAfter)).toBe(delay);
  });

  it("stays under RETRY_MAX_SECONDS, as the local stack's short retries need", () => {
    expect(pipelineDelaySeconds({ baseSeconds: 1, maxSeconds: 2, pipelineSeconds: 3600 }, null)).toBe(2);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-10-21T07:27:00Z");
  it.each([
    [null, null],
    ["120", 120],
    [" 7 ", 7],
    ["0", 0],
    ["Wed, 21 Oct 2026 07:28:00 GMT", 60],
    ["Wed, 21 Oct 2026 07:26:00 GMT", 0], // a date in the past: now
    ["-5", null],
    ["1.5", null],
    ["soon", null],
  ] as const)("%o → %o", (header, seconds) => {
    expect(parseRetryAfter(header, now)).toBe(seconds);
  });
});
