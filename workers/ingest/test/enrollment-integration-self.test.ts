/**
 * Self-service enrollment (src/routes/post-token-code.ts, src/routes/post-token.ts) inside workerd:
 * a code is queued for the address, traded for that address's token, and every way of asking
 * wrongly gets its own error. The queue is spied on, so the tests read the code deliver would email.
 */

import { createExecutionContext, reset } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import type { CodeMessage } from "@notepipe/pipeline";
import { makeEnrollmentCode, parseEnrollSecrets, parseTokenSecrets, signClientToken } from "@notepipe/token";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CODES_PER_HOUR, TRIES_PER_WINDOW } from "../src/enrollment/guard.ts";
import worker from "../src/index.ts";
import { BASE, makeNote, postNote } from "./client.ts";
import { TEST_ENROLL_IP_LIMIT } from "./config.ts";

afterEach(() => reset());

/** Each test its own client address, so that no test spends another's per-IP allowance. */
let nextClient = 1;
function client(): Record<string, string> {
  return { "cf-connecting-ip": `198.51.100.${nextClient++}` };
}

function post(path: string, body: unknown, headers: Record<string, string> = {}, init: RequestInit = {}) {
  return exports.default.fetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" || body instanceof ReadableStream ? body : JSON.stringify(body),
    ...init,
  });
}

const requestCode = (to: string, from = client()) => post("/v1/tokens/code", { to }, from);
const confirmCode = (to: string, code: string, from = client()) => post("/v1/tokens", { to, code }, from);

/** The code messages the Worker queued since the spy was set. */
function queuedCodes(send: { mock: { calls: unknown[][] } }): CodeMessage[] {
  return send.mock.calls.map((call) => call[0] as CodeMessage);
}

/** Requests a code for `to` and answers the code ingest queued for deliver to email. */
async function codeFor(to: string, from = client()): Promise<string> {
  const send = vi.spyOn(env.NOTES_QUEUE, "send");
  expect((await requestCode(to, from)).status).toBe(202);
  const code = queuedCodes(send).at(-1)?.code;
  send.mockRestore();
  if (code === undefined) throw new Error("no code was queued");
  return code;
}

function codeMadeWith(secrets: Record<string, string>, to: string, now = Date.now()): Promise<string> {
  return makeEnrollmentCode(parseEnrollSecrets(JSON.stringify(secrets)), to, now);
}

async function errorOf(response: Response): Promise<{ status: number; error: string }> {
  const { error } = (await response.json()) as { error: string };
  return { status: response.status, error };
}

describe("POST /v1/tokens/code", () => {
  it("answers 202 sent and queues one code message for the lowercased address", async () => {
    const send = vi.spyOn(env.NOTES_QUEUE, "send");

    const response = await requestCode("Ada@Example.COM");

    expect(response.status).toBe(202);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(await response.json()).toEqual({ status: "sent" });
    expect(send).toHaveBeenCalledTimes(1);
    expect(send.mock.calls[0]?.[0]).toEqual({
      kind: "code",
      to: "ada@example.com",
      code: expect.stringMatching(/^[0-9]{6}$/),
      expiresAt: expect.any(Number),
    });
    expect(send.mock.calls[0]?.[1]).toEqual({ contentType: "json" });
    // The code is accepted for 10 to 20 minutes: deliver drops its email past that.
    const lives = (queuedCodes(send)[0]?.expiresAt ?? 0) - Date.now();
    expect(lives).toBeGreaterThan(10 * 60 * 1000 - 5000);
    expect(lives).toBeLessThanOrEqual(20 * 60 * 1000);
  });

  it("answers the same for an address that enrolled before and one never seen", async () => {
    const ada = await codeFor("ada@example.com");
    await confirmCode("ada@example.com", ada);

    const again = await requestCode("ada@example.com");
    const fresh = await requestCode("never-seen@example.com");

    expect([again.status, await again.json()]).toEqual([202, { status: "sent" }]);
    expect([fresh.status, await fresh.json()]).toEqual([202, { status: "sent" }]);
  });

  it(`sends at most ${CODES_PER_HOUR} codes an hour to one address, then 429 with Retry-After`, async () => {
    for (let i = 0; i < CODES_PER_HOUR; i++) expect((await requestCode("burst@example.com")).status).toBe(202);
    const send = vi.spyOn(env.NOTES_QUEUE, "send");

    const refused = await requestCode("BURST@example.com");

    expect(await errorOf(refused)).toEqual({ status: 429, error: "rate_limited" });
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(3500);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(send).not.toHaveBeenCalled();
    expect((await requestCode("someone-else@example.com")).status).toBe(202);
  });

  it("refuses a client address past its limit with 429 and Retry-After: 60, whatever the address", async () => {
    const from = client();
    for (let i = 0; i < TEST_ENROLL_IP_LIMIT; i++) {
      expect((await requestCode(`walker${i}@example.com`, from)).status).toBe(202);
    }
    const send = vi.spyOn(env.NOTES_QUEUE, "send");

    const refused = await requestCode("walker-next@example.com", from);

    expect(await errorOf(refused)).toEqual({ status: 429, error: "rate_limited" });
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(send).not.toHaveBeenCalled();
    // The confirm route counts against the same allowance.
    expect((await confirmCode("walker0@example.com", "000000", from)).status).toBe(429);
  });

  it("does not count the local stack's own machine against a client address's limit", async () => {
    for (let i = 0; i <= TEST_ENROLL_IP_LIMIT; i++) {
      expect((await requestCode(`local${i}@example.com`, { "cf-connecting-ip": "127.0.0.1" })).status).toBe(202);
    }
  });

  it("answers 400 bad_recipient for an address the frame's rule refuses", async () => {
    for (const to of ["ada", "ada@localhost", "ada@exa mple.com", "adä@example.com", `${"a".repeat(65)}@example.com`]) {
      expect(await errorOf(await requestCode(to))).toEqual({ status: 400, error: "bad_recipient" });
    }
  });

  it("answers 503 queue_unavailable with Retry-After when the queue refuses the code", async () => {
    vi.spyOn(env.NOTES_QUEUE, "send").mockRejectedValue(new Error("Queue send failed: ada@example.com 123456"));
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);

    const refused = await requestCode("ada@example.com");

    expect(await errorOf(refused)).toEqual({ status: 503, error: "queue_unavailable" });
    expect(refused.headers.get("retry-after")).toBe("10");
    expect(logged.mock.calls.flat().join(" ")).not.toContain("ada@example.com");
  });
});

describe("POST /v1/tokens", () => {
  it("trades the emailed code for the address's client token, which posts a note", async () => {
    const code = await codeFor("ada@example.com");

    const response = await confirmCode("ADA@example.com", code);

    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("cache-control")).toBe("no-store");
    const expected = await signClientToken(parseTokenSecrets(env.TOKEN_SECRETS), "k2026a", "ada@example.com");
    expect(await response.json()).toEqual({ token: expected, to: "ada@example.com" });
    expect((await postNote(makeNote("ada@example.com").frame, { token: expected })).status).toBe(202);
  });

  it("answers 400 invalid_code for a wrong code, an expired one and another address's", async () => {
    const secrets = JSON.parse(env.ENROLL_SECRETS) as Record<string, string>;
    const right = await codeFor("ada@example.com");
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, "0");
    const expired = await codeMadeWith(secrets, "ada@example.com", Date.now() - 21 * 60 * 1000);
    const grace = await codeFor("grace@example.com");

    for (const code of [wrong, expired, grace]) {
      expect(await errorOf(await confirmCode("ada@example.com", code))).toEqual({ status: 400, error: "invalid_code" });
    }
  });

  it("refuses a code signed with a kid removed from ENROLL_SECRETS", async () => {
    const retired = await codeMadeWith({ e2025: "retired-enroll-secret-e2025" }, "ada@example.com");

    expect(await errorOf(await confirmCode("ada@example.com", retired))).toEqual({
      status: 400,
      error: "invalid_code",
    });
  });

  it("answers 400 invalid_code for a code that is not six digits, without counting a try", async () => {
    for (const code of ["", "12345", "1234567", "12 456", "abcdef"]) {
      expect(await errorOf(await confirmCode("typo@example.com", code))).toEqual({
        status: 400,
        error: "invalid_code",
      });
    }
    const code = await codeFor("typo@example.com");
    expect((await confirmCode("typo@example.com", code)).status).toBe(200);
  });

  it(`allows ${TRIES_PER_WINDOW} tries per address in 10 minutes, then 429 even for the right code`, async () => {
    const code = await codeFor("guessed@example.com");
    for (let i = 0; i < TRIES_PER_WINDOW; i++) {
      const guess = String(i).padStart(6, "0") === code ? "999999" : String(i).padStart(6, "0");
      expect((await confirmCode("guessed@example.com", guess)).status).toBe(400);
    }

    const refused = await confirmCode("guessed@example.com", code);

    expect(await errorOf(refused)).toEqual({ status: 429, error: "rate_limited" });
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(500);
    expect(retryAfter).toBeLessThanOrEqual(600);
  });

  it("gives no address a token from a code made for another", async () => {
    const secrets = JSON.parse(env.ENROLL_SECRETS) as Record<string, string>;
    const local = fc.stringMatching(/^[a-z0-9._-]{1,16}$/).filter((part) => !/^\.|\.$|\.\./.test(part));
    const address = fc.tuple(local, fc.constantFrom("example.com", "example.org", "mail.example.net"));
    await fc.assert(
      fc.asyncProperty(address, address, async ([ownerLocal, ownerDomain], [otherLocal, otherDomain]) => {
        const owner = `${ownerLocal}@${ownerDomain}`;
        const other = `${otherLocal}@${otherDomain}`;
        fc.pre(owner !== other);
        const code = await codeMadeWith(secrets, owner);
        const response = await confirmCode(other, code);
        expect(await errorOf(response)).toEqual({ status: 400, error: "invalid_code" });
      }),
      // Each run is a request through the Worker (one guard per address); 2 in 10^6 pairs share a
      // code by design (packages/token/test/enroll-code.test.ts), hence the fixed seed.
      { numRuns: 40, seed: 15 },
    );
  });
});

describe("both enrollment routes", () => {
  for (const path of ["/v1/tokens/code", "/v1/tokens"]) {
    it(`${path}: 415 for another media type, 413 past 1 KiB, 400 for a body of the wrong shape, 405 for GET`, async () => {
      const body = { to: "ada@example.com", code: "123456" };
      expect(await errorOf(await post(path, body, { ...client(), "content-type": "text/plain" }))).toEqual({
        status: 415,
        error: "unsupported_media_type",
      });
      expect(await errorOf(await post(path, { ...body, pad: "x".repeat(1024) }, client()))).toEqual({
        status: 413,
        error: "body_too_large",
      });
      // Chunked: no Content-Length to refuse it by, so it is counted as it arrives.
      const chunked = new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(JSON.stringify({ ...body, pad: "x".repeat(2048) })));
          controller.close();
        },
      });
      expect(await errorOf(await post(path, chunked, client()))).toEqual({
        status: 413,
        error: "body_too_large",
      });
      for (const bad of ["not json", "[]", '{"to": 5, "code": "123456"}', '{"code": "123456"}']) {
        expect(await errorOf(await post(path, bad, client()))).toEqual({ status: 400, error: "bad_request" });
      }
      const get = await exports.default.fetch(`${BASE}${path}`);
      expect(await errorOf(get)).toEqual({ status: 405, error: "method_not_allowed" });
      expect(get.headers.get("allow")).toBe("POST");
    });
  }

  it("answer a browser's preflight", async () => {
    const response = await exports.default.fetch(`${BASE}/v1/tokens/code`, { method: "OPTIONS" });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-headers")).toContain("content-type");
  });

  it("never log an address, a code or a token", async () => {
    const lines: unknown[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(...args));
    }
    const code = await codeFor("quiet@example.com");
    const { token } = (await (await confirmCode("quiet@example.com", code)).json()) as { token: string };
    await confirmCode("quiet@example.com", "000000");

    const logged = lines.map(String).join("\n");
    for (const secret of ["quiet@example.com", code, token]) expect(logged).not.toContain(secret);
  });
});

describe("the operator's ENROLLMENT setting", () => {
  /** wrangler types each var as its literal in wrangler.ingest.toml ("open"); an operator sets others. */
  type Settings = Partial<Record<"ENROLLMENT" | "ENROLLMENT_DOMAINS", string>> | Partial<Env>;
  const call = (path: string, body: unknown, settings: Settings) =>
    worker.fetch(
      new Request(`${BASE}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...client() },
        body: JSON.stringify(body),
      }) as Request<unknown, IncomingRequestCfProperties>,
      { ...env, ...settings } as Env,
      createExecutionContext(),
    );

  it('"closed" answers 403 enrollment_closed on both routes and queues nothing', async () => {
    const send = vi.spyOn(env.NOTES_QUEUE, "send");
    const closed = { ENROLLMENT: "closed" };

    expect(await errorOf(await call("/v1/tokens/code", { to: "ada@example.com" }, closed))).toEqual({
      status: 403,
      error: "enrollment_closed",
    });
    expect(await errorOf(await call("/v1/tokens", { to: "ada@example.com", code: "123456" }, closed))).toEqual({
      status: 403,
      error: "enrollment_closed",
    });
    expect(send).not.toHaveBeenCalled();
  });

  it('"domains" enrols addresses at ENROLLMENT_DOMAINS and answers 403 domain_not_allowed elsewhere', async () => {
    const domains = { ENROLLMENT: "domains", ENROLLMENT_DOMAINS: "example.com, Example.org" };

    expect((await call("/v1/tokens/code", { to: "ada@example.com" }, domains)).status).toBe(202);
    expect((await call("/v1/tokens/code", { to: "ada@EXAMPLE.org" }, domains)).status).toBe(202);
    for (const to of ["ada@example.net", "ada@sub.example.com"]) {
      expect(await errorOf(await call("/v1/tokens/code", { to }, domains))).toEqual({
        status: 403,
        error: "domain_not_allowed",
      });
    }
  });

  it("a value it does not know keeps enrollment closed", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const typo = { ENROLLMENT: "opne" };
    expect(await errorOf(await call("/v1/tokens/code", { to: "ada@example.com" }, typo))).toEqual({
      status: 403,
      error: "enrollment_closed",
    });
  });

  it("a guard that cannot be reached answers 503 rate_limiter_unavailable, and no code is queued", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const send = vi.spyOn(env.NOTES_QUEUE, "send");
    const broken = {
      ENROLLMENT_GUARD: {
        getByName: () => {
          throw new Error("Durable Object reset because its code was updated.");
        },
      },
    } as unknown as Settings;

    const refused = await call("/v1/tokens/code", { to: "ada@example.com" }, broken);

    expect(await errorOf(refused)).toEqual({ status: 503, error: "rate_limiter_unavailable" });
    expect(refused.headers.get("retry-after")).toBe("10");
    expect(send).not.toHaveBeenCalled();
  });
});
