/**
 * `loseAnswerRate`: the provider takes a send request, does everything it would (emails in the
 * inbox, the answer kept under the idempotency key), and the client never gets the answer. These
 * tests go through a real port, since what the client meets is its connection failing; under
 * `app.request`, which has no connection, see faults.test.ts.
 */

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_API_KEY, type FaultsInput, type RunningLocalProvider, startLocalProvider } from "../src/index.ts";
import { postmarkMessage, resendEmail } from "./requests.ts";

/** Long enough for a request to reach the provider on a busy machine; a timed-out test means it did not. */
const CLIENT_TIMEOUT_MS = 1000;

let provider: RunningLocalProvider;

beforeEach(async () => {
  provider = await startLocalProvider({ port: 0, rateLimitPerSecond: 0 });
});

afterEach(async () => {
  await provider.close();
});

async function setFaults(faults: FaultsInput): Promise<void> {
  const res = await fetch(`${provider.url}/_control/faults`, { method: "POST", body: JSON.stringify(faults) });
  expect(res.status).toBe(200);
}

function sendResend(body: unknown, idempotencyKey: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${provider.url}/emails`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${DEFAULT_API_KEY}`,
      "content-type": "application/json",
      "idempotency-key": idempotencyKey,
    },
    body: JSON.stringify(body),
    ...(signal === undefined ? {} : { signal }),
  });
}

function sendPostmark(body: unknown): Promise<Response> {
  return fetch(`${provider.url}/email/batch`, {
    method: "POST",
    headers: { "x-postmark-server-token": DEFAULT_API_KEY, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

function nextEmail(): Promise<unknown> {
  return new Promise((resolve) => provider.state.inbox.subscribe(resolve));
}

describe("loseAnswerRate reset", () => {
  it("sends the email, then resets the connection: the client's fetch fails with ECONNRESET", async () => {
    await setFaults({ loseAnswerRate: { reset: 1 } });
    await expect(sendResend(resendEmail(), "note-1")).rejects.toMatchObject({
      name: "TypeError",
      cause: { code: "ECONNRESET" },
    });
    expect(provider.state.inbox.size).toBe(1);
    expect(provider.state.stats).toMatchObject({ requests: 1, byStatus: {}, answersLost: { reset: 1, hold: 0 } });
  });

  it("keeps the answer under the idempotency key: the retry replays it without a second email", async () => {
    await setFaults({ loseAnswerRate: { reset: 1 } });
    await expect(sendResend(resendEmail(), "note-1")).rejects.toThrow();
    await setFaults({});

    const retry = await sendResend(resendEmail(), "note-1");
    expect(retry.status).toBe(200);
    const [email] = provider.state.inbox.list();
    expect(await retry.json()).toEqual({ id: email?.id });
    expect(provider.state.inbox.size).toBe(1);
    expect(provider.state.stats.replayed).toBe(1);
  });

  it("on Postmark, which has no idempotency keys, lets the retry send a second email", async () => {
    await setFaults({ loseAnswerRate: { reset: 1 } });
    await expect(sendPostmark([postmarkMessage()])).rejects.toMatchObject({ cause: { code: "ECONNRESET" } });
    await setFaults({});

    expect((await sendPostmark([postmarkMessage()])).status).toBe(200);
    expect(provider.state.inbox.list({ provider: "postmark" })).toHaveLength(2);
  });

  it("answers a request the API refuses as usual: only an acceptance is lost", async () => {
    await setFaults({ loseAnswerRate: { reset: 1 } });
    const refused = await sendResend(resendEmail({ to: "bounce@example.com" }), "note-1");
    expect(refused.status).toBe(422);
    expect(provider.state.stats).toMatchObject({ byStatus: { "422": 1 }, answersLost: { reset: 0, hold: 0 } });
  });
});

describe("loseAnswerRate hold", () => {
  it("sends the email and holds the answer until the client's own timeout", async () => {
    await setFaults({ loseAnswerRate: { hold: 1 } });
    const arrived = nextEmail();
    const sending = sendResend(resendEmail(), "note-1", AbortSignal.timeout(CLIENT_TIMEOUT_MS));
    await arrived;
    await expect(sending).rejects.toMatchObject({ name: "TimeoutError" });
    expect(provider.state.inbox.size).toBe(1);
    await vi.waitFor(() => expect(provider.state.stats.answersLost).toEqual({ reset: 0, hold: 1 }));
    expect(provider.state.stats).toMatchObject({ requests: 1, byStatus: {} });
  });

  it("has settled the idempotency key already: a retry while the answer is held replays it", async () => {
    await setFaults({ loseAnswerRate: { hold: 1 } });
    const client = new AbortController();
    const arrived = nextEmail();
    const held = sendResend(resendEmail(), "note-1", client.signal);
    await arrived;
    await setFaults({});

    const retry = await sendResend(resendEmail(), "note-1");
    expect(retry.status).toBe(200);
    const [email] = provider.state.inbox.list();
    expect(await retry.json()).toEqual({ id: email?.id });
    expect(provider.state.inbox.size).toBe(1);

    client.abort();
    await expect(held).rejects.toMatchObject({ name: "AbortError" });
  });
});
