/**
 * Self-service enrollment (src/routes/post-token-code.ts, src/routes/post-token.ts) inside workerd:
 * a code is queued for the address, traded for that address's token, and every way of asking
 * wrongly gets its own error. The queue is spied on, so the tests read the code deliver would email.
 */

import { createExecutionContext, reset, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import type { CodeMessage } from "@notepipe/pipeline";
import {
  CODE_PATTERN,
  enrollmentCodeMac,
  makeEnrollmentCode,
  parseTokenSecrets,
  signClientToken,
} from "@notepipe/token";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CODES_PER_DAY, CODES_PER_HOUR, EnrollmentGuard, MISSES_PER_CODE } from "../src/enrollment/guard.ts";
import worker from "../src/index.ts";
import { BASE, makeNote, postNote } from "./client.ts";
import { TEST_ENROLL_IP_LIMIT, TEST_ENROLL_SECRETS } from "./config.ts";

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
  const send = vi.spyOn(env.CODES_QUEUE, "send");
  expect((await requestCode(to, from)).status).toBe(202);
  const code = queuedCodes(send).at(-1)?.code;
  send.mockRestore();
  if (code === undefined) throw new Error("no code was queued");
  return code;
}

/** A code that is not `code`: its last character moved one place along the alphabet. */
function otherThan(code: string): string {
  const last = code.at(-1) === "0" ? "1" : "0";
  return `${code.slice(0, -1)}${last}`;
}

const HOUR = 60 * 60 * 1000;

async function errorOf(response: Response): Promise<{ status: number; error: string }> {
  const { error } = (await response.json()) as { error: string };
  return { status: response.status, error };
}

describe("POST /v1/tokens/code", () => {
  it("answers 202 sent and queues one code message for the lowercased address", async () => {
    const send = vi.spyOn(env.CODES_QUEUE, "send");

    const response = await requestCode("Ada@Example.COM");

    expect(response.status).toBe(202);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(await response.json()).toEqual({ status: "sent" });
    expect(send).toHaveBeenCalledTimes(1);
    expect(send.mock.calls[0]?.[0]).toEqual({
      kind: "code",
      to: "ada@example.com",
      code: expect.stringMatching(CODE_PATTERN),
      expiresAt: expect.any(Number),
    });
    expect(send.mock.calls[0]?.[1]).toEqual({ contentType: "json" });
    // The code is accepted for the 10 minutes the email says: deliver drops its email past that.
    const lives = (queuedCodes(send)[0]?.expiresAt ?? 0) - Date.now();
    expect(lives).toBeGreaterThan(10 * 60 * 1000 - 5000);
    expect(lives).toBeLessThanOrEqual(10 * 60 * 1000);
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
    const send = vi.spyOn(env.CODES_QUEUE, "send");

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
    const send = vi.spyOn(env.CODES_QUEUE, "send");

    const refused = await requestCode("walker-next@example.com", from);

    expect(await errorOf(refused)).toEqual({ status: 429, error: "rate_limited" });
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(send).not.toHaveBeenCalled();
    // The confirm route counts against the same allowance.
    expect((await confirmCode("walker0@example.com", "00000000", from)).status).toBe(429);
  });

  it("counts the machine itself (127.0.0.1) like any client address", async () => {
    const statuses: number[] = [];
    for (let i = 0; i <= TEST_ENROLL_IP_LIMIT; i++) {
      statuses.push((await requestCode(`local${i}@example.com`, { "cf-connecting-ip": "127.0.0.1" })).status);
    }
    expect(statuses).toEqual([...Array(TEST_ENROLL_IP_LIMIT).fill(202), 429]);
  });

  it("answers 400 bad_recipient for an address the frame's rule refuses", async () => {
    for (const to of ["ada", "ada@localhost", "ada@exa mple.com", "adä@example.com", `${"a".repeat(65)}@example.com`]) {
      expect(await errorOf(await requestCode(to))).toEqual({ status: 400, error: "bad_recipient" });
    }
  });

  it("answers 503 queue_unavailable with Retry-After when the queue refuses the code", async () => {
    vi.spyOn(env.CODES_QUEUE, "send").mockRejectedValue(new Error("Queue send failed: ada@example.com 123456"));
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);

    const refused = await requestCode("ada@example.com");

    expect(await errorOf(refused)).toEqual({ status: 503, error: "queue_unavailable" });
    expect(refused.headers.get("retry-after")).toBe("10");
    expect(logged.mock.calls.flat().join(" ")).not.toContain("ada@example.com");
    // The code whose email was not queued is taken back: nothing for the address is live.
    const live = await runInDurableObject(env.ENROLLMENT_GUARD.getByName("ada@example.com"), (_, state) =>
      state.storage.kv.get("live"),
    );
    expect(live).toEqual([]);
  });
});

describe("POST /v1/tokens", () => {
  it("trades the emailed code for the address's client token, which posts a note", async () => {
    const code = await codeFor("ada@example.com");

    const response = await confirmCode("ADA@example.com", code);

    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("cache-control")).toBe("no-store");
    const { token } = (await response.json()) as { token: string };
    // Issued now, under the first kid: the token pnpm ops token would sign for the address that second.
    const issuedAt = Number(token.split(".")[2]);
    expect(Math.abs(issuedAt * 1000 - Date.now())).toBeLessThan(5_000);
    const expected = await signClientToken(
      parseTokenSecrets(env.TOKEN_SECRETS),
      "k2026a",
      "ada@example.com",
      issuedAt * 1000,
    );
    expect(token).toBe(expected);
    expect((await postNote(makeNote("ada@example.com").frame, { token: expected })).status).toBe(202);
  });

  it("reads the code as a person types it: lower case, with a hyphen or spaces", async () => {
    const code = await codeFor("typist@example.com");

    const response = await confirmCode("typist@example.com", ` ${code.slice(0, 4).toLowerCase()}-${code.slice(4)} `);

    expect(response.status).toBe(200);
  });

  it("takes a code once: the second trade of the same code is invalid_code", async () => {
    const code = await codeFor("once@example.com");
    expect((await confirmCode("once@example.com", code)).status).toBe(200);

    expect(await errorOf(await confirmCode("once@example.com", code))).toEqual({ status: 400, error: "invalid_code" });
  });

  it("answers 400 invalid_code for a wrong code, an expired one and another address's", async () => {
    const right = await codeFor("ada@example.com");
    const grace = await codeFor("grace@example.com");
    // Issued 10 minutes and a second ago, as the address's guard stores a code.
    const expired = makeEnrollmentCode();
    const [kid, secret] = Object.entries(TEST_ENROLL_SECRETS)[0] as [string, string];
    const mac = await enrollmentCodeMac(secret, "ada@example.com", expired);
    await env.ENROLLMENT_GUARD.getByName("ada@example.com").issue(kid, mac, Date.now() - 10 * 60 * 1000 - 1000);

    for (const code of [otherThan(right), expired, grace]) {
      expect(await errorOf(await confirmCode("ada@example.com", code))).toEqual({ status: 400, error: "invalid_code" });
    }
  });

  it("gives nothing for a code nobody asked for, and stores nothing for the address", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await confirmCode("never-asked@example.com", makeEnrollmentCode())).status);

    expect(statuses).toEqual([400, 400, 400]);
    const stored = await runInDurableObject(env.ENROLLMENT_GUARD.getByName("never-asked@example.com"), (_, state) => [
      ...state.storage.kv.list(),
    ]);
    expect(stored).toEqual([]);
  });

  it("refuses a code whose kid was removed from ENROLL_SECRETS", async () => {
    const code = makeEnrollmentCode();
    const mac = await enrollmentCodeMac("retired-enroll-secret-e2025", "ada@example.com", code);
    await env.ENROLLMENT_GUARD.getByName("ada@example.com").issue("e2025", mac, Date.now());

    expect(await errorOf(await confirmCode("ada@example.com", code))).toEqual({ status: 400, error: "invalid_code" });
  });

  it("answers 400 invalid_code for what cannot be a code, without counting a miss", async () => {
    const code = await codeFor("typo@example.com");
    for (const typed of ["", "123456", "1234567", "ABCD EFG", "ABCDEFGU", "ABCDEFGHJ"]) {
      expect(await errorOf(await confirmCode("typo@example.com", typed))).toEqual({
        status: 400,
        error: "invalid_code",
      });
    }
    expect((await confirmCode("typo@example.com", code)).status).toBe(200);
  });

  it(`kills a code at its ${MISSES_PER_CODE}th miss: the right code is invalid after`, async () => {
    const code = await codeFor("guessed@example.com");
    for (let i = 0; i < MISSES_PER_CODE; i++) {
      expect((await confirmCode("guessed@example.com", makeEnrollmentCode())).status).toBe(400);
    }

    expect(await errorOf(await confirmCode("guessed@example.com", code))).toEqual({
      status: 400,
      error: "invalid_code",
    });
  });

  it("lets the owner's next code work after a guesser's burst killed the last one", async () => {
    await codeFor("owner@example.com");
    for (let i = 0; i < MISSES_PER_CODE * 2; i++) await confirmCode("owner@example.com", makeEnrollmentCode());

    const next = await codeFor("owner@example.com");

    expect((await confirmCode("owner@example.com", next)).status).toBe(200);
  });

  it(`keeps a code alive through ${MISSES_PER_CODE - 1} misses`, async () => {
    const code = await codeFor("clumsy@example.com");
    for (let i = 0; i < MISSES_PER_CODE - 1; i++) await confirmCode("clumsy@example.com", otherThan(code));

    expect((await confirmCode("clumsy@example.com", code)).status).toBe(200);
  });
});

describe("the EnrollmentGuard of an address", () => {
  const kid = "e2026a";
  const mac = new Uint8Array(32).fill(7);

  it(`issues ${CODES_PER_DAY} codes in 24 hours at most, then 429 until the oldest is a day old`, async () => {
    const guard = env.ENROLLMENT_GUARD.getByName("daily@example.com");
    const start = Date.now() - 5 * HOUR;
    // 21 minutes apart: never 3 within an hour, so only the daily cap can refuse.
    for (let i = 0; i < CODES_PER_DAY; i++) {
      expect(await guard.issue(kid, mac, start + i * 21 * 60 * 1000)).toEqual({ ok: true });
    }

    const refused = await requestCode("daily@example.com");

    expect(await errorOf(refused)).toEqual({ status: 429, error: "rate_limited" });
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(19 * 3600 - 60);
    expect(retryAfter).toBeLessThanOrEqual(19 * 3600);
    expect(await guard.issue(kid, mac, start + 24 * HOUR + 1)).toEqual({ ok: true });
  });

  it("keeps the hourly count a version-1 object held, and drops its tries", async () => {
    const stub = env.ENROLLMENT_GUARD.getByName("deployed@example.com");
    const now = Date.now();

    const [issued, tries, result] = await runInDurableObject(stub, async (_, state) => {
      state.storage.kv.put("codes", [now - 30 * 60 * 1000, now - 20 * 60 * 1000, now - 10 * 60 * 1000]);
      state.storage.kv.put("tries", [now - 60 * 1000]);
      // What the runtime does when the new code first wakes the object up.
      const migrated = new EnrollmentGuard(state, env);
      return [state.storage.kv.get("issued"), state.storage.kv.get("tries"), await migrated.issue(kid, mac, now)];
    });

    expect(issued).toHaveLength(3);
    expect(tries).toBeUndefined();
    expect(result).toEqual({ ok: false, retryAfterSeconds: 30 * 60 });
  });

  it("deletes everything at its alarm, 24 hours after the newest code", async () => {
    const stub = env.ENROLLMENT_GUARD.getByName("forgotten@example.com");
    const now = Date.now();
    await stub.issue(kid, mac, now);

    const alarm = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
    expect(alarm).toBe(now + 24 * HOUR);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await runInDurableObject(stub, (_, state) => [...state.storage.kv.list()])).toEqual([]);
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
    await confirmCode("quiet@example.com", "00000000");

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
    const send = vi.spyOn(env.CODES_QUEUE, "send");
    const closed = { ENROLLMENT: "closed" };

    expect(await errorOf(await call("/v1/tokens/code", { to: "ada@example.com" }, closed))).toEqual({
      status: 403,
      error: "enrollment_closed",
    });
    expect(await errorOf(await call("/v1/tokens", { to: "ada@example.com", code: "7KQ2M9XD" }, closed))).toEqual({
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
    const send = vi.spyOn(env.CODES_QUEUE, "send");
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
