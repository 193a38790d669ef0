import { describe, expect, it, vi } from "vitest";
import { createLocalProvider, type FaultsInput } from "../src/index.ts";
import { manualClock, postJson, postmarkMessage, postPostmark, postResend, resendEmail } from "./requests.ts";

async function withFaults(faults: FaultsInput) {
  const provider = createLocalProvider({ rateLimitPerSecond: 0 });
  const res = await postJson(provider.app, "/_control/faults", faults);
  expect(res.status).toBe(200);
  return provider;
}

async function statuses(faults: FaultsInput, count: number): Promise<number[]> {
  const { app } = await withFaults(faults);
  const seen: number[] = [];
  for (let i = 0; i < count; i++) seen.push((await postResend(app, "/emails", resendEmail())).status);
  return seen;
}

describe("error rates", () => {
  it("fail about the configured share of requests, the same ones for the same seed", async () => {
    const faults = { seed: 42, errorRate: { "500": 0.1, "502": 0.1, "503": 0.1 } };
    const first = await statuses(faults, 200);
    expect(await statuses(faults, 200)).toEqual(first);
    const failed = first.filter((status) => status !== 200).length;
    expect(failed).toBeGreaterThan(40);
    expect(failed).toBeLessThan(80);
    expect(new Set(first)).toEqual(new Set([200, 500, 502, 503]));
    expect(await statuses({ ...faults, seed: 43 }, 200)).not.toEqual(first);
  });

  it("send nothing and leave the idempotency key free: the retry sends once", async () => {
    const { app, state } = await withFaults({ errorRate: { "500": 1 } });
    const failed = await postResend(app, "/emails", resendEmail(), { "idempotency-key": "note-1" });
    expect(failed.status).toBe(500);
    expect(await failed.json()).toEqual({
      statusCode: 500,
      name: "internal_server_error",
      message: "An unexpected error occurred.",
    });
    await postJson(app, "/_control/faults", {});
    expect((await postResend(app, "/emails", resendEmail(), { "idempotency-key": "note-1" })).status).toBe(200);
    expect(state.inbox.size).toBe(1);
  });

  it("answer 502 and 503 with an edge proxy's HTML page, not JSON", async () => {
    const { app } = await withFaults({ errorRate: { "503": 1 } });
    const res = await postResend(app, "/emails/batch", [resendEmail()]);
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
  });

  it("answer an injected 429 with retry-after on Resend and without on Postmark", async () => {
    const { app } = await withFaults({ errorRate: { "429": 1 } });
    const resend = await postResend(app, "/emails", resendEmail());
    expect(resend.status).toBe(429);
    expect(resend.headers.get("retry-after")).toBe("1");
    const postmark = await postPostmark(app, [postmarkMessage()]);
    expect(postmark.status).toBe(429);
    expect(postmark.headers.get("retry-after")).toBeNull();
  });
});

describe("burst429", () => {
  it("answers exactly the next N send requests 429", async () => {
    expect(await statuses({ burst429: 3 }, 5)).toEqual([429, 429, 429, 200, 200]);
  });
});

describe("reject", () => {
  it("refuses every send as an unverified domain: Resend 403 validation_error, Postmark 422", async () => {
    const { app, state } = await withFaults({ reject: "domain_not_verified" });
    const resend = await postResend(app, "/emails/batch", [resendEmail()]);
    expect(resend.status).toBe(403);
    expect(await resend.json()).toMatchObject({ statusCode: 403, name: "validation_error" });
    const postmark = await postPostmark(app, [postmarkMessage()]);
    expect(postmark.status).toBe(422);
    expect(await postmark.json()).toMatchObject({ ErrorCode: 400 });
    expect(state.inbox.size).toBe(0);
  });

  it("refuses every send as a bad key: Resend 403 invalid_api_key, Postmark 401 ErrorCode 10", async () => {
    const { app } = await withFaults({ reject: "invalid_api_key" });
    const resend = await postResend(app, "/emails", resendEmail());
    expect(resend.status).toBe(403);
    expect(await resend.json()).toMatchObject({ name: "invalid_api_key" });
    const postmark = await postPostmark(app, [postmarkMessage()]);
    expect(postmark.status).toBe(401);
    expect(await postmark.json()).toEqual({
      ErrorCode: 10,
      Message: "Request does not contain a valid Server token.",
    });
  });

  it("refuses every send as a spent daily quota: Resend 429 daily_quota_exceeded", async () => {
    const { app } = await withFaults({ reject: "daily_quota_exceeded" });
    const res = await postResend(app, "/emails", resendEmail());
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ name: "daily_quota_exceeded" });
  });

  it("refuses every send as spent credits on Postmark: 422 with ErrorCode 405", async () => {
    const { app, state } = await withFaults({ reject: "daily_quota_exceeded" });
    const res = await postPostmark(app, [postmarkMessage()]);
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ ErrorCode: 405, Message: "Not allowed to send: you have run out of credits." });
    expect(state.inbox.size).toBe(0);
  });

  it("ends with an empty fault set", async () => {
    const { app } = await withFaults({ reject: "restricted_api_key" });
    await postJson(app, "/_control/faults", {});
    expect((await postResend(app, "/emails", resendEmail())).status).toBe(200);
  });
});

describe("outage", () => {
  it("answers every send request with its 5xx before even the edge looks at it, and sends nothing", async () => {
    const { app, state } = await withFaults({ outage: "503" });
    const noUserAgent = await postResend(app, "/emails", resendEmail(), { "user-agent": "" });
    expect(noUserAgent.status).toBe(503);
    expect(noUserAgent.headers.get("content-type")).toMatch(/^text\/html/);
    const postmark = await postPostmark(app, [postmarkMessage()]);
    expect(postmark.status).toBe(503);
    expect(state.inbox.size).toBe(0);
    expect(state.stats).toMatchObject({ requests: 2, byStatus: { "503": 2 } });
  });

  it("answers a 500 with each API's own shape", async () => {
    const { app } = await withFaults({ outage: "500" });
    const resend = await postResend(app, "/emails/batch", [resendEmail()]);
    expect(resend.status).toBe(500);
    expect(await resend.json()).toMatchObject({ name: "internal_server_error" });
  });

  it("drops a refused request's connection (fetch's network error under app.request) and counts it", async () => {
    const { app, state } = await withFaults({ outage: "refused" });
    const res = await postResend(app, "/emails", resendEmail(), { "idempotency-key": "note-1" });
    expect(res.type).toBe("error");
    expect(state.inbox.size).toBe(0);
    expect(state.idempotency.size).toBe(0);
    expect(state.stats).toMatchObject({ requests: 1, refused: 1, byStatus: {} });
  });

  it("leaves the control routes and the inbox answering, so a test can end it", async () => {
    const { app } = await withFaults({ outage: "refused" });
    expect((await app.request("/inbox")).status).toBe(200);
    expect((await postJson(app, "/_control/faults", {})).status).toBe(200);
    expect((await postResend(app, "/emails", resendEmail())).status).toBe(200);
  });
});

describe("forMs", () => {
  it("keeps the faults that long, counting down, then turns every fault off", async () => {
    const clock = manualClock();
    const { app } = createLocalProvider({ rateLimitPerSecond: 0, now: clock.now });
    await postJson(app, "/_control/faults", { outage: "503", forMs: 30_000 });
    expect((await postResend(app, "/emails", resendEmail())).status).toBe(503);
    clock.advance(29_999);
    expect(await (await app.request("/_control/faults")).json()).toMatchObject({ outage: "503", forMs: 1 });
    expect((await postResend(app, "/emails", resendEmail())).status).toBe(503);
    clock.advance(1);
    expect((await postResend(app, "/emails", resendEmail())).status).toBe(200);
    expect(await (await app.request("/_control/faults")).json()).toMatchObject({ outage: null, forMs: null });
  });

  it("ends a spent quota as a reset at midnight would", async () => {
    const clock = manualClock();
    const { app } = createLocalProvider({ rateLimitPerSecond: 0, now: clock.now });
    await postJson(app, "/_control/faults", { reject: "daily_quota_exceeded", forMs: 60_000 });
    expect((await postResend(app, "/emails", resendEmail())).status).toBe(429);
    clock.advance(60_000);
    expect((await postResend(app, "/emails", resendEmail())).status).toBe(200);
  });

  it("is refused outside 1 ms to a week", async () => {
    const { app } = createLocalProvider();
    for (const forMs of [0, 7 * 86_400_000 + 1, 1.5]) {
      expect((await postJson(app, "/_control/faults", { forMs })).status).toBe(400);
    }
  });
});

describe("hangRate", () => {
  it("never answers; when the client gives up nothing is sent and the request counts as hung", async () => {
    const { app, state } = await withFaults({ hangRate: 1 });
    const client = new AbortController();
    let answered = false;
    const pending = postResend(app, "/emails", resendEmail(), { "idempotency-key": "k" }, client.signal).then(() => {
      answered = true;
    });
    // Holding its key means it got past every check and is now waiting for its client.
    await vi.waitFor(() => expect(state.idempotency.size).toBe(1));
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toBe(false);

    client.abort();
    await pending;
    expect(state.inbox.size).toBe(0);
    expect(state.idempotency.size).toBe(0);
    expect(state.stats).toMatchObject({ requests: 1, hung: 1, byStatus: {} });
  });
});

describe("loseAnswerRate", () => {
  it("draws no extra number: the same seed fails the same requests, and loses the same answers", async () => {
    const errors = { seed: 42, errorRate: { "500": 0.2 } };
    const lossy = { ...errors, loseAnswerRate: { reset: 0.2 } };
    const withoutLoss = await statuses(errors, 200);
    const withLoss = await statuses(lossy, 200);
    expect(withLoss.map((status) => status === 500)).toEqual(withoutLoss.map((status) => status === 500));
    expect(await statuses(lossy, 200)).toEqual(withLoss);
    // Under app.request a reset answers Response.error(), whose status is 0.
    const lost = withLoss.filter((status) => status === 0).length;
    expect(lost).toBeGreaterThan(15);
    expect(lost).toBeLessThan(50);
  });

  it("answers a reset under app.request, which has no connection, with fetch's network error", async () => {
    const { app, state } = await withFaults({ loseAnswerRate: { reset: 1 } });
    const res = await postResend(app, "/emails", resendEmail(), { "idempotency-key": "note-1" });
    expect(res.type).toBe("error");
    expect(state.inbox.size).toBe(1);
    expect(state.stats).toMatchObject({ requests: 1, byStatus: {}, answersLost: { reset: 1, hold: 0 } });
  });
});

describe("latencyMs", () => {
  it("delays the answer, and sends the email even if the client gave up meanwhile", async () => {
    const { app, state } = await withFaults({ latencyMs: 50 });
    const arrived = new Promise((resolve) => state.inbox.subscribe(resolve));
    const client = new AbortController();
    const pending = postResend(app, "/emails", resendEmail(), { "idempotency-key": "note-1" }, client.signal);
    client.abort();
    await arrived;
    await pending;
    expect(state.inbox.size).toBe(1);

    // The answer the client missed is kept under its key: the retry gets it, not a second email.
    await postJson(app, "/_control/faults", {});
    const retry = await postResend(app, "/emails", resendEmail(), { "idempotency-key": "note-1" });
    expect(retry.status).toBe(200);
    expect(state.inbox.size).toBe(1);
  });
});

describe("POST /_control/faults", () => {
  it("refuses unknown fields and rates that add up to more than 1 with 400", async () => {
    const { app } = createLocalProvider();
    const unknown = await postJson(app, "/_control/faults", { errorRates: { "500": 0.5 } });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ error: "bad_request" });
    const tooMuch = await postJson(app, "/_control/faults", { errorRate: { "500": 0.6, "503": 0.6 } });
    expect(tooMuch.status).toBe(400);
  });

  it("refuses hangRate and loseAnswerRate adding up to more than 1: one draw decides among them", async () => {
    const { app } = createLocalProvider();
    const res = await postJson(app, "/_control/faults", { hangRate: 0.5, loseAnswerRate: { reset: 0.3, hold: 0.3 } });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: "bad_request",
      message: "loseAnswerRate: hangRate and the loseAnswerRate rates add up to more than 1.",
    });
  });

  it("answers the faults now in force, defaults filled in", async () => {
    const { app } = createLocalProvider();
    const res = await postJson(app, "/_control/faults", { errorRate: { "503": 0.3 } });
    expect(await res.json()).toEqual({
      seed: 1,
      errorRate: { "503": 0.3 },
      burst429: 0,
      latencyMs: 0,
      hangRate: 0,
      loseAnswerRate: {},
      reject: null,
      outage: null,
      forMs: null,
    });
  });
});
