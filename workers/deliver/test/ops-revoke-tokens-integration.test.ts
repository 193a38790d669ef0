/**
 * POST /ops/tokens/revoke inside workerd, on the ops sub-app: who may call it, what it writes (the
 * not-before row ingest reads, @notepipe/pipeline's key and value) and what it answers, and every
 * wrong body refused with a JSON error and nothing written.
 */

import { env } from "cloudflare:workers";
import { notBeforeKey, REVOCATION_DELAY_SECONDS, type TokensRevoked } from "@notepipe/pipeline";
import { afterEach, describe, expect, it, vi } from "vitest";
import { envWith } from "./ledger.ts";
import { opsRequest, postJson } from "./ops.ts";

afterEach(() => {
  vi.useRealTimers();
});

const PATH = "/ops/tokens/revoke";

async function errorOf(res: Response): Promise<{ status: number; error: string; message: string }> {
  return { status: res.status, ...((await res.json()) as { error: string; message: string }) };
}

async function notBeforeOf(address: string): Promise<string | null> {
  return env.STATUS.get(await notBeforeKey(address));
}

describe("POST /ops/tokens/revoke", () => {
  it("sets the address's not-before to the next whole second and says when ingest applies it", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(2027, 2, 1, 12, 0, 0, 250));

    const res = await postJson(PATH, { to: "Ada@Example.com" });

    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect((await res.json()) as TokensRevoked).toEqual({
      to: "ada@example.com",
      notBefore: "2027-03-01T12:00:01.000Z",
      appliesWithinSeconds: REVOCATION_DELAY_SECONDS,
    });
    expect(await notBeforeOf("ada@example.com")).toBe(String(Date.UTC(2027, 2, 1, 12, 0, 1) / 1000));
  });

  it("moves the not-before on when revoked again", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(2027, 2, 1, 12, 0, 0));
    expect((await postJson(PATH, { to: "bob@example.com" })).status).toBe(200);
    vi.setSystemTime(Date.UTC(2027, 2, 2, 12, 0, 0));
    expect((await postJson(PATH, { to: "bob@example.com" })).status).toBe(200);
    expect(await notBeforeOf("bob@example.com")).toBe(String(Date.UTC(2027, 2, 2, 12, 0, 0) / 1000));
  });

  it("keeps no address in KV: the key is the address's SHA-256", async () => {
    expect((await postJson(PATH, { to: "carol@example.com" })).status).toBe(200);
    const { keys } = await env.STATUS.list({ prefix: "notbefore:" });
    expect(keys.map((key) => key.name)).toContain(await notBeforeKey("carol@example.com"));
    expect(keys.every((key) => /^notbefore:[0-9a-f]{64}$/.test(key.name))).toBe(true);
  });

  it("needs an ops token", async () => {
    const res = await opsRequest(PATH, {
      method: "POST",
      token: null,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ to: "dave@example.com" }),
    });
    expect(await errorOf(res)).toEqual({
      status: 401,
      error: "unauthorized",
      message: "Send Authorization: Bearer <ops token>.",
    });
    const wrong = await opsRequest(PATH, {
      method: "POST",
      token: "ops-test-token-2026a-0123456788",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ to: "dave@example.com" }),
    });
    expect(wrong.status).toBe(401);
    expect(await notBeforeOf("dave@example.com")).toBeNull();
  });

  it.each([
    ["not JSON", "{to: dave@example.com}", "The body is not valid JSON."],
    ["no address", "{}", "Invalid body: to: Invalid input: expected string, received undefined."],
    ["another field", '{"to": "dave@example.com", "all": true}', 'Invalid body: body: Unrecognized key: "all".'],
    [
      "not an address notepipe sends to",
      '{"to": "dave@localhost"}',
      "`to` is not an address notepipe sends to, so it has no tokens.",
    ],
  ])("refuses a body that is %s with 400, writing nothing", async (_, body, message) => {
    const put = vi.spyOn(env.STATUS, "put");
    const res = await opsRequest(PATH, { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(await errorOf(res)).toEqual({ status: 400, error: "bad_request", message });
    expect(put).not.toHaveBeenCalled();
  });

  it("refuses another media type (415), a body over 1 KiB (413) and another method (405)", async () => {
    const text = await opsRequest(PATH, { method: "POST", body: JSON.stringify({ to: "dave@example.com" }) });
    expect(text.status).toBe(415);
    const large = await postJson(PATH, { to: "dave@example.com", padding: "x".repeat(1024) });
    expect(await errorOf(large)).toMatchObject({ status: 413, error: "body_too_large" });
    const get = await opsRequest(PATH);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect(await notBeforeOf("dave@example.com")).toBeNull();
  });

  it("answers 503 retry_later when KV refuses the write", async () => {
    const refusing = envWith({
      STATUS: { put: () => Promise.reject(new Error("KV PUT failed: 429 Too Many Requests")) },
    } as unknown as Partial<Env>);
    const res = await postJson(PATH, { to: "erin@example.com" }, refusing);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(await errorOf(res)).toEqual({
      status: 503,
      error: "retry_later",
      message: "KV did not take the revoke; nothing changed. Retry in a few seconds.",
    });
  });
});
