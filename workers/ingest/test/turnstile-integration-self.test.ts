/**
 * Turnstile on POST /v1/tokens/code (src/enrollment/turnstile.ts) inside workerd, against the
 * siteverify stand-in (test/siteverify-stand-in.ts) reached at the TURNSTILE_SITEVERIFY_URL these
 * tests configure: off by default; on once TURNSTILE_SECRET_KEY is set, when a request without a
 * token siteverify accepts stores and queues nothing; closed when siteverify cannot answer.
 */

import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SITEVERIFY_TIMEOUT_MS } from "../src/enrollment/turnstile.ts";
import worker from "../src/index.ts";
import { BASE } from "./client.ts";
import { ALREADY_SPENT, ALWAYS_FAILS, ALWAYS_PASSES, DUMMY_TOKEN, SiteverifyStandIn } from "./siteverify-stand-in.ts";

afterEach(() => {
  vi.useRealTimers();
});

const SITEVERIFY_URL = "https://siteverify.test/turnstile/v0/siteverify";
/** A production secret key the stand-in knows, as the operator's widget's would be. */
const SECRET = "0x4AAAAAAAtest-secret-key-of-the-widget";

/** Each request its own client address and recipient: no test spends another's enrollment limits. */
let next = 1;

/** The stand-in behind every fetch the Worker makes to SITEVERIFY_URL; any other fetch fails the test. */
function siteverify(standIn = new SiteverifyStandIn({ secrets: [SECRET] })) {
  const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (request.url !== SITEVERIFY_URL) throw new Error(`unexpected fetch to ${request.url}`);
    return standIn.fetch(request);
  });
  return { standIn, fetchSpy };
}

/** Spies on every queue the Worker may send a code email on: whatever its name, nothing may be queued. */
function queueSends() {
  const queues = Object.values(env).filter(
    (binding): binding is Queue => typeof (binding as Partial<Queue>)?.sendBatch === "function",
  );
  return queues.map((queue) => vi.spyOn(queue, "send"));
}

function requestCode(secret: string | undefined, token?: string): Promise<Response> {
  const n = next++;
  const headers: Record<string, string> = { "content-type": "application/json", "cf-connecting-ip": `203.0.113.${n}` };
  if (token !== undefined) headers["cf-turnstile-response"] = token;
  const request = new Request(`${BASE}/v1/tokens/code`, {
    method: "POST",
    headers,
    body: JSON.stringify({ to: `turnstile-${n}@example.com` }),
  });
  const vars = {
    TURNSTILE_SITEVERIFY_URL: SITEVERIFY_URL,
    ...(secret === undefined ? {} : { TURNSTILE_SECRET_KEY: secret }),
  };
  return Promise.resolve(
    worker.fetch(
      request as Request<unknown, IncomingRequestCfProperties>,
      { ...env, ...vars } as Env,
      createExecutionContext(),
    ),
  );
}

async function expectError(response: Response, status: number, error: string): Promise<void> {
  expect(response.status).toBe(status);
  expect(((await response.json()) as { error: string }).error).toBe(error);
}

describe("Turnstile off (no TURNSTILE_SECRET_KEY, the default)", () => {
  it("sends the code without asking siteverify, token or not", async () => {
    const { fetchSpy } = siteverify();
    expect((await requestCode(undefined)).status).toBe(202);
    expect((await requestCode(undefined, "anything")).status).toBe(202);
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});

describe("Turnstile on", () => {
  it("sends the code for a token siteverify accepts, asking with the secret, the token and the client's address", async () => {
    const { standIn } = siteverify();
    const token = standIn.solve(SECRET);
    const sends = queueSends();

    expect((await requestCode(SECRET, token)).status).toBe(202);

    expect(standIn.requests).toEqual([{ secret: SECRET, response: token, remoteip: `203.0.113.${next - 1}` }]);
    expect(sends.reduce((count, send) => count + send.mock.calls.length, 0)).toBe(1);
  });

  it("refuses a token used once already with 403 turnstile_failed, and queues nothing", async () => {
    const { standIn } = siteverify();
    const token = standIn.solve(SECRET);
    expect((await requestCode(SECRET, token)).status).toBe(202);
    const sends = queueSends();

    const again = await requestCode(SECRET, token);

    expect(await again.json()).toEqual({
      error: "turnstile_failed",
      message: "The Turnstile token did not verify (wrong, expired or used); solve the challenge again.",
    });
    expect(again.status).toBe(403);
    for (const send of sends) expect(send).not.toHaveBeenCalled();
  });

  it("refuses a token older than siteverify's 300 s", async () => {
    let now = Date.UTC(2027, 2, 1);
    const { standIn } = siteverify(new SiteverifyStandIn({ secrets: [SECRET], now: () => now }));
    const token = standIn.solve(SECRET);
    now += 300_001;
    await expectError(await requestCode(SECRET, token), 403, "turnstile_failed");
  });

  it("answers 400 turnstile_required for no token or one over 2,048 characters, without asking siteverify", async () => {
    const { fetchSpy } = siteverify();
    const sends = queueSends();
    const missing = await requestCode(SECRET);
    expect(await missing.json()).toEqual({
      error: "turnstile_required",
      message: "Send the Turnstile widget's token in the CF-Turnstile-Response header.",
    });
    expect(missing.status).toBe(400);
    await expectError(await requestCode(SECRET, ""), 400, "turnstile_required");
    await expectError(await requestCode(SECRET, "x".repeat(2049)), 400, "turnstile_required");
    expect(fetchSpy).not.toHaveBeenCalled();
    for (const send of sends) expect(send).not.toHaveBeenCalled();
  });

  it.each([
    ["1x…AA (always passes) with the dummy token", ALWAYS_PASSES, 202, undefined],
    ["2x…AA (always fails)", ALWAYS_FAILS, 403, "turnstile_failed"],
    ["3x…AA (token already spent)", ALREADY_SPENT, 403, "turnstile_failed"],
  ])("answers Cloudflare's test secret key %s as documented", async (_, secret, status, error) => {
    siteverify();
    const response = await requestCode(secret, DUMMY_TOKEN);
    expect(response.status).toBe(status);
    if (error !== undefined) expect(((await response.json()) as { error: string }).error).toBe(error);
  });
});

describe("Turnstile on, siteverify unable to answer: closed", () => {
  async function expectUnavailable(response: Response): Promise<void> {
    expect(response.headers.get("retry-after")).toBe("10");
    expect(await response.json()).toEqual({
      error: "turnstile_unavailable",
      message: "The Turnstile token could not be verified; retry after the Retry-After seconds.",
    });
    expect(response.status).toBe(503);
  }

  it("answers 503 when the operator's secret is not one siteverify knows", async () => {
    const { standIn } = siteverify();
    const sends = queueSends();
    await expectUnavailable(await requestCode("0x4AAAAAAAa-mistyped-secret-key", standIn.solve(SECRET)));
    for (const send of sends) expect(send).not.toHaveBeenCalled();
  });

  it("answers 503 for a 5xx page that is not siteverify's JSON", async () => {
    vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response("<html>502 Bad Gateway</html>", { status: 502 }));
    const sends = queueSends();
    await expectUnavailable(await requestCode(SECRET, "a-token"));
    for (const send of sends) expect(send).not.toHaveBeenCalled();
  });

  it(`answers 503 when siteverify does not answer within ${SITEVERIFY_TIMEOUT_MS} ms`, async () => {
    // What fetch rejects with once AbortSignal.timeout(SITEVERIFY_TIMEOUT_MS) fires.
    const fetchSpy = vi
      .spyOn(globalThis, "fetch")
      .mockRejectedValue(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
    const sends = queueSends();
    await expectUnavailable(await requestCode(SECRET, "a-token"));
    const init = fetchSpy.mock.calls[0]?.[1];
    expect(init?.signal).toBeInstanceOf(AbortSignal);
    for (const send of sends) expect(send).not.toHaveBeenCalled();
  });
});
