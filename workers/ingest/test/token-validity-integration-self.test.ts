/**
 * When a client token whose MAC is right stops sending (src/token-validity.ts), inside workerd: an
 * address's revoke refuses its older tokens within the documented delay and not the ones issued
 * after it, `TOKEN_MAX_AGE_DAYS` refuses old tokens, and np1 tokens count as issued on
 * NP1_ISSUED_AT. The clock is vitest's fake Date, which the Worker reads too; the revoke is the
 * row deliver's `POST /ops/tokens/revoke` writes (@notepipe/pipeline's key and value).
 */

import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import {
  KV_VISIBILITY_SECONDS,
  NOT_BEFORE_CACHE_SECONDS,
  notBeforeAt,
  notBeforeKey,
  REVOCATION_DELAY_SECONDS,
} from "@notepipe/pipeline";
import { NP1_ISSUED_AT, parseTokenSecrets, signClientToken } from "@notepipe/token";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index.ts";
import { BASE, makeNote, postNote } from "./client.ts";
import { TEST_TOKEN_SECRETS } from "./config.ts";

afterEach(() => {
  vi.useRealTimers();
});

const DAY_MS = 24 * 60 * 60 * 1000;
/** 2027-03-01T12:00:00Z: after np2 came in, so that np1 tokens count as issued before it. */
const START = Date.UTC(2027, 2, 1, 12, 0, 0);

/** Each test its own addresses: an isolate keeps what it read of an address for 30 s. */
let nextAddress = 1;
const address = () => `revoke-${nextAddress++}@example.com`;

function setNow(ms: number): void {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(ms);
}

const tokenAt = (to: string, ms: number) => signClientToken(parseTokenSecrets(env.TOKEN_SECRETS), "k2026a", to, ms);

/** An np1 token, as the release before np2 issued them: HMAC-SHA256 of the address alone. */
async function np1Token(to: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(TEST_TOKEN_SECRETS.k2026a),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(to)));
  const base64url = btoa(String.fromCharCode(...mac))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
  return `np1.k2026a.${base64url}`;
}

/** What `pnpm ops token revoke <to>` makes deliver write, at `ms`. */
async function revoke(to: string, ms: number): Promise<void> {
  await env.STATUS.put(await notBeforeKey(to), String(notBeforeAt(ms)));
}

/** POST /v1/notes through the Worker with `vars` over the test's configuration (wrangler types each var as its literal). */
function postWith(vars: Record<string, string>, to: string, token: string): Promise<Response> {
  const request = new Request(`${BASE}/v1/notes`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream", authorization: `Bearer ${token}` },
    body: makeNote(to).frame,
  });
  return Promise.resolve(
    worker.fetch(
      request as Request<unknown, IncomingRequestCfProperties>,
      { ...env, ...vars } as Env,
      createExecutionContext(),
    ),
  );
}

async function expectRefused(response: Response, message: RegExp): Promise<void> {
  expect(response.status).toBe(401);
  expect(response.headers.get("www-authenticate")).toBe('Bearer realm="notepipe"');
  const body = (await response.json()) as { error: string; message: string };
  expect(body.error).toBe("unauthorized");
  expect(body.message).toMatch(message);
}

describe("pnpm ops token revoke <address>", () => {
  it("refuses the address's older token within the documented delay, and its next token works", async () => {
    const to = address();
    setNow(START);
    const old = await tokenAt(to, START - DAY_MS);
    expect((await postNote(makeNote(to).frame, { token: old })).status).toBe(202);

    await revoke(to, START + 1_000);
    // KV itself takes up to 60 s to show a write everywhere; this isolate then holds its last read 30 s.
    expect(REVOCATION_DELAY_SECONDS).toBe(KV_VISIBILITY_SECONDS + NOT_BEFORE_CACHE_SECONDS);
    setNow(START + 1_000 + NOT_BEFORE_CACHE_SECONDS * 1_000);
    await expectRefused(await postNote(makeNote(to).frame, { token: old }), /revoked/);

    const renewed = await tokenAt(to, Date.now());
    expect((await postNote(makeNote(to).frame, { token: renewed })).status).toBe(202);
  });

  it("refuses a token issued in the revoke's own second, and takes one from the next second", async () => {
    const to = address();
    setNow(START + 60_000);
    await revoke(to, START + 250);
    await expectRefused(await postNote(makeNote(to).frame, { token: await tokenAt(to, START) }), /revoked/);
    await expectRefused(await postNote(makeNote(to).frame, { token: await tokenAt(to, START + 999) }), /revoked/);
    expect((await postNote(makeNote(to).frame, { token: await tokenAt(to, START + 1_000) })).status).toBe(202);
  });

  it("leaves the other addresses' tokens alone", async () => {
    const [revoked, other] = [address(), address()];
    setNow(START);
    await revoke(revoked, START);
    const token = await tokenAt(other, START - DAY_MS);
    expect((await postNote(makeNote(other).frame, { token })).status).toBe(202);
  });

  it("costs one KV read per address per isolate per 30 s, and none for a token that fails its MAC", async () => {
    const to = address();
    setNow(START);
    const token = await tokenAt(to, START);
    const get = vi.spyOn(env.STATUS, "get");
    expect((await postNote(makeNote(to).frame, { token })).status).toBe(202);
    expect((await postNote(makeNote(to).frame, { token })).status).toBe(202);
    expect(get).toHaveBeenCalledTimes(1);

    expect((await postNote(makeNote(address()).frame, { token })).status).toBe(403);
    expect(get).toHaveBeenCalledTimes(1);

    setNow(START + NOT_BEFORE_CACHE_SECONDS * 1_000);
    expect((await postNote(makeNote(to).frame, { token })).status).toBe(202);
    expect(get).toHaveBeenCalledTimes(2);
  });

  it("sends when KV cannot be read and the isolate never read the address: an outage does not hold notes back", async () => {
    const to = address();
    const token = await tokenAt(to, Date.now());
    vi.spyOn(env.STATUS, "get").mockRejectedValue(new Error("KV GET failed: 500 Internal Server Error"));
    const send = vi.spyOn(env.NOTES_QUEUE, "send");

    expect((await postNote(makeNote(to).frame, { token })).status).toBe(202);
    expect(send).toHaveBeenCalledTimes(1);
  });

  it("keeps refusing a revoked token it read once, however long KV then cannot be read", async () => {
    const to = address();
    setNow(START);
    const old = await tokenAt(to, START - DAY_MS);
    await revoke(to, START - 1_000);
    await expectRefused(await postNote(makeNote(to).frame, { token: old }), /revoked/);

    vi.spyOn(env.STATUS, "get").mockRejectedValue(new Error("KV GET failed: 500 Internal Server Error"));
    setNow(START + DAY_MS);
    await expectRefused(await postNote(makeNote(to).frame, { token: old }), /revoked/);
  });
});

describe("TOKEN_MAX_AGE_DAYS", () => {
  it("refuses a token older than the setting and takes a younger one", async () => {
    const to = address();
    setNow(START);
    const old = await tokenAt(to, START - 30 * DAY_MS);
    const young = await tokenAt(to, START - 30 * DAY_MS + 1_000);

    await expectRefused(await postWith({ TOKEN_MAX_AGE_DAYS: "30" }, to, old), /expired/);
    expect((await postWith({ TOKEN_MAX_AGE_DAYS: "30" }, to, young)).status).toBe(202);
  });

  it("is off when empty (the default) or 0", async () => {
    const to = address();
    setNow(START);
    const ancient = await tokenAt(to, Date.UTC(2001, 0, 1));
    expect((await postNote(makeNote(to).frame, { token: ancient })).status).toBe(202);
    expect((await postWith({ TOKEN_MAX_AGE_DAYS: "0" }, to, ancient)).status).toBe(202);
  });

  it("answers 500 for a value that is not a whole number of days, rather than guess", async () => {
    const to = address();
    const response = await postWith({ TOKEN_MAX_AGE_DAYS: "30d" }, to, await tokenAt(to, Date.now()));
    expect(response.status).toBe(500);
    expect(((await response.json()) as { error: string }).error).toBe("internal_error");
  });
});

describe("np1 tokens (issued before np2)", () => {
  it("still send while their address has no revoke and no maximum age reaches 2026-12-07", async () => {
    const to = address();
    setNow(START);
    expect((await postNote(makeNote(to).frame, { token: await np1Token(to) })).status).toBe(202);
    const withinAge = Math.ceil((START / 1000 - NP1_ISSUED_AT) / 86_400) + 1;
    expect((await postWith({ TOKEN_MAX_AGE_DAYS: String(withinAge) }, to, await np1Token(to))).status).toBe(202);
  });

  it("are refused once their address is revoked", async () => {
    const to = address();
    setNow(START);
    await revoke(to, START);
    await expectRefused(await postNote(makeNote(to).frame, { token: await np1Token(to) }), /revoked/);
  });

  it("are refused once a maximum age counted from 2026-12-07 has passed", async () => {
    const to = address();
    setNow(NP1_ISSUED_AT * 1000 + 30 * DAY_MS);
    await expectRefused(await postWith({ TOKEN_MAX_AGE_DAYS: "30" }, to, await np1Token(to)), /expired/);
  });
});
