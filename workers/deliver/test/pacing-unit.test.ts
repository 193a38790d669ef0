/**
 * Pacing by the provider's rate-limit headers (src/providers/pace.ts): the rule on its own, with
 * an injected clock, and through the `notes` consumer under fake timers, judged by when the next
 * batch's request reaches the provider.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_PACE_WAIT_MS, paceDelayMs, rememberRateLimit } from "../src/providers/pace.ts";
import { TEST_MAIL_API_URL } from "./config.ts";
import {
  fixJitter,
  makeNote,
  messageOf,
  mockProvider,
  type Reply,
  recordOf,
  resendAccepted,
  resendError,
  runQueue,
  type SeenRequest,
} from "./notes.ts";

const URL_A = "https://a.test/emails/batch";
const URL_B = "https://b.test/emails/batch";
const NOW = 1_790_000_000_000;

function rateHeaders(remaining: number, reset: number): Headers {
  return new Headers({
    "ratelimit-limit": "2",
    "ratelimit-remaining": String(remaining),
    "ratelimit-reset": String(reset),
  });
}

function remember(headers: Record<string, string>, status = 200, retryAfter: number | null = null, url = URL_A) {
  rememberRateLimit(url, status, new Headers(headers), retryAfter, NOW);
}

describe("what an answer says about the next request", () => {
  it.each([
    // headers, wait (ms)
    [{ "ratelimit-limit": "2", "ratelimit-remaining": "0", "ratelimit-reset": "1" }, 1000],
    [{ "ratelimit-remaining": "0", "ratelimit-reset": " 3 " }, 3000],
    [{ "ratelimit-limit": "2", "ratelimit-remaining": "1", "ratelimit-reset": "1" }, 0], // budget left
    [{}, 0], // no headers (Postmark)
    [{ "ratelimit-remaining": "0" }, 0], // no reset
    [{ "ratelimit-remaining": "0", "ratelimit-reset": "0" }, 0],
    [{ "ratelimit-remaining": "0", "ratelimit-reset": "-1" }, 0],
    [{ "ratelimit-remaining": "0", "ratelimit-reset": "1.5" }, 0],
    [{ "ratelimit-remaining": "0", "ratelimit-reset": "1e3" }, 0],
    [{ "ratelimit-remaining": "0", "ratelimit-reset": "0x1" }, 0],
    [{ "ratelimit-remaining": "0", "ratelimit-reset": "soon" }, 0],
    [{ "ratelimit-remaining": "-0", "ratelimit-reset": "1" }, 0],
    [{ "ratelimit-remaining": "none", "ratelimit-reset": "1" }, 0],
    [{ "ratelimit-remaining": "0", "ratelimit-reset": "11" }, 0], // beyond the cap: the 429 path handles it
    [{ "ratelimit-remaining": "0", "ratelimit-reset": "99999999999999999999" }, 0],
  ] as const)("%o: waits %i ms", (headers, wait) => {
    remember(headers);
    expect(paceDelayMs(URL_A, NOW)).toBe(wait);
  });

  it("waits only as long as is left, and not at all once the time has passed", () => {
    remember({ "ratelimit-remaining": "0", "ratelimit-reset": "2" });
    expect(paceDelayMs(URL_A, NOW + 1500)).toBe(500);
    expect(paceDelayMs(URL_A, NOW + 2000)).toBe(0);
  });

  it("takes a wait of exactly the cap, not one a millisecond beyond it", () => {
    remember({ "ratelimit-remaining": "0", "ratelimit-reset": String(MAX_PACE_WAIT_MS / 1000) });
    expect(paceDelayMs(URL_A, NOW)).toBe(MAX_PACE_WAIT_MS);
    expect(paceDelayMs(URL_A, NOW - 1)).toBe(0);
  });

  it("paces on a 429's Retry-After, and on the later of Retry-After and the reset", () => {
    remember({}, 429, 2);
    expect(paceDelayMs(URL_A, NOW)).toBe(2000);
    remember({ "ratelimit-remaining": "0", "ratelimit-reset": "1" }, 429, 3);
    expect(paceDelayMs(URL_A, NOW)).toBe(3000);
  });

  it("ignores Retry-After on anything but a 429, and a 429's beyond the cap", () => {
    remember({}, 503, 2);
    expect(paceDelayMs(URL_A, NOW)).toBe(0);
    remember({}, 429, 120);
    expect(paceDelayMs(URL_A, NOW)).toBe(0);
  });

  it("forgets a used-up window when a later answer has budget or says nothing", () => {
    remember({ "ratelimit-remaining": "0", "ratelimit-reset": "1" });
    remember({ "ratelimit-remaining": "1", "ratelimit-reset": "1" });
    expect(paceDelayMs(URL_A, NOW)).toBe(0);
    remember({ "ratelimit-remaining": "0", "ratelimit-reset": "1" });
    remember({});
    expect(paceDelayMs(URL_A, NOW)).toBe(0);
  });

  it("waits for the end of the window its first answer bounds, not a whole second from the last", () => {
    rememberRateLimit(URL_A, 200, rateHeaders(1, 1), null, NOW);
    rememberRateLimit(URL_A, 200, rateHeaders(0, 1), null, NOW + 300);
    expect(paceDelayMs(URL_A, NOW + 300)).toBe(700);
  });

  it("takes an answer for a new window once the bound has passed or the budget went up", () => {
    rememberRateLimit(URL_A, 200, rateHeaders(1, 1), null, NOW);
    rememberRateLimit(URL_A, 200, rateHeaders(0, 1), null, NOW + 1200);
    expect(paceDelayMs(URL_A, NOW + 1200)).toBe(1000);
    rememberRateLimit(URL_A, 200, rateHeaders(1, 1), null, NOW + 2300);
    rememberRateLimit(URL_A, 200, rateHeaders(0, 1), null, NOW + 2400);
    expect(paceDelayMs(URL_A, NOW + 2400)).toBe(900);
  });

  it("waits the whole Retry-After of a 429, even within a window bounded earlier", () => {
    rememberRateLimit(URL_A, 200, rateHeaders(0, 1), null, NOW);
    rememberRateLimit(URL_A, 429, rateHeaders(0, 1), 1, NOW + 100);
    expect(paceDelayMs(URL_A, NOW + 100)).toBe(1000);
  });

  it("keeps each API URL apart", () => {
    remember({ "ratelimit-remaining": "0", "ratelimit-reset": "1" }, 200, null, URL_A);
    expect(paceDelayMs(URL_B, NOW)).toBe(0);
    remember({ "ratelimit-remaining": "1", "ratelimit-reset": "1" }, 200, null, URL_B);
    expect(paceDelayMs(URL_A, NOW)).toBe(1000);
  });
});

/** Resend's answer with its rate-limit headers; built inside the request (workerd's I/O rule). */
function acceptedWith(remaining: number, reset: number | string): (request: SeenRequest) => Response {
  return (request) => {
    const response = resendAccepted(request);
    response.headers.set("ratelimit-limit", "2");
    response.headers.set("ratelimit-remaining", String(remaining));
    response.headers.set("ratelimit-reset", String(reset));
    return response;
  };
}

/**
 * Polls `check` on workerd's own clock (`scheduler.wait`, which fake timers leave alone) until it
 * holds, for up to 2 s. Not `vi.waitFor`: under fake timers that advances them on every poll.
 */
async function until(check: () => boolean): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited >= 2000) throw new Error("timed out waiting");
    await scheduler.wait(10);
  }
}

/**
 * Sends one batch answered by `first`, then starts a second: answers the second's requests so far
 * and a function that finishes it. Under fake timers, a paced send waits on a timer that only
 * `vi.advanceTimersByTimeAsync` moves.
 */
async function twoBatches(first: Reply) {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
  const requests = mockProvider(first, resendAccepted);
  await runQueue("notes", [messageOf(makeNote())]);
  expect(requests).toHaveLength(1);
  const note = makeNote();
  const second = runQueue("notes", [messageOf(note)]);
  return { requests, second, secondId: note.id };
}

describe("the consumer's next request", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("waits for the window to reset after an answer with none remaining", async () => {
    const { requests, second, secondId } = await twoBatches(acceptedWith(0, 1));

    // The second batch reads KV and builds its request, then waits on the pacing timer.
    await until(() => vi.getTimerCount() === 1);
    const waitedFrom = Date.now();
    await vi.advanceTimersByTimeAsync(999);
    expect(requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await until(() => requests.length === 2);
    expect((await second).explicitAcks).toHaveLength(1);
    expect(requests[1]?.url).toBe(`${TEST_MAIL_API_URL}/emails/batch`);
    // The record says when the provider took the note, after the wait, not when the batch began.
    const record = await recordOf(secondId);
    expect(record?.state).toBe("sent");
    expect(Date.parse(record?.updatedAt ?? "")).toBeGreaterThanOrEqual(waitedFrom + 1000);
  });

  it("waits after a 429 as long as its Retry-After says, and sends the next batch then", async () => {
    fixJitter(0);
    const { requests, second } = await twoBatches(() =>
      resendError(429, "rate_limit_exceeded", "Too many requests.", { "retry-after": "1" }),
    );

    await until(() => vi.getTimerCount() === 1);
    await vi.advanceTimersByTimeAsync(999);
    expect(requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await until(() => requests.length === 2);
    expect((await second).explicitAcks).toHaveLength(1);
  });

  it.each([
    ["budget remains", acceptedWith(1, 1)],
    ["the answer has no rate-limit headers (Postmark)", resendAccepted],
    ["the reset is beyond the cap", acceptedWith(0, MAX_PACE_WAIT_MS / 1000 + 1)],
    ["the reset is garbage", acceptedWith(0, "1s")],
  ] as const)("goes out at once when %s", async (_, reply) => {
    const { requests, second } = await twoBatches(reply);

    // No timer is advanced: a paced send would never reach the provider.
    await until(() => requests.length === 2);
    expect((await second).explicitAcks).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});
