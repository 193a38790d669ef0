import { describe, expect, it, vi } from "vitest";
import { createLocalProvider } from "../src/index.ts";
import { manualClock, postJson, postResend, resendEmail } from "./requests.ts";

describe("Idempotency-Key", () => {
  it("replays the first answer for the same key and body, without a second email", async () => {
    const { app, state } = createLocalProvider({ rateLimitPerSecond: 0 });
    const batch = [resendEmail(), resendEmail({ to: "grace@example.com" })];
    const first = await postResend(app, "/emails/batch", batch, { "idempotency-key": "batch-1" });
    const again = await postResend(app, "/emails/batch", batch, { "idempotency-key": "batch-1" });
    expect(again.status).toBe(200);
    expect(await again.text()).toBe(await first.text());
    expect(state.inbox.size).toBe(2);
    expect(state.stats.replayed).toBe(1);
  });

  it("answers 409 invalid_idempotent_request for the same key with another body", async () => {
    const { app, state } = createLocalProvider({ rateLimitPerSecond: 0 });
    await postResend(app, "/emails", resendEmail(), { "idempotency-key": "note-1" });
    const res = await postResend(app, "/emails", resendEmail({ subject: "Other" }), { "idempotency-key": "note-1" });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({
      statusCode: 409,
      name: "invalid_idempotent_request",
      message: "Same idempotency key used with a different request payload.",
    });
    expect(state.inbox.size).toBe(1);
  });

  it("treats another batch validation mode as another request", async () => {
    const { app } = createLocalProvider({ rateLimitPerSecond: 0 });
    await postResend(app, "/emails/batch", [resendEmail()], { "idempotency-key": "k" });
    const res = await postResend(app, "/emails/batch", [resendEmail()], {
      "idempotency-key": "k",
      "x-batch-validation": "permissive",
    });
    expect(res.status).toBe(409);
  });

  it("answers 409 concurrent_idempotent_requests while the first request is in flight, and frees the key when it is dropped", async () => {
    const { app, state } = createLocalProvider({ rateLimitPerSecond: 0 });
    await postJson(app, "/_control/faults", { hangRate: 1 });
    const client = new AbortController();
    const hanging = postResend(app, "/emails", resendEmail(), { "idempotency-key": "note-1" }, client.signal);
    await vi.waitFor(() => expect(state.idempotency.size).toBe(1));

    await postJson(app, "/_control/faults", {});
    const concurrent = await postResend(app, "/emails", resendEmail(), { "idempotency-key": "note-1" });
    expect(concurrent.status).toBe(409);
    expect(await concurrent.json()).toMatchObject({ name: "concurrent_idempotent_requests" });

    client.abort();
    await hanging;
    const retry = await postResend(app, "/emails", resendEmail(), { "idempotency-key": "note-1" });
    expect(retry.status).toBe(200);
    expect(state.inbox.size).toBe(1);
  });

  it("does not keep a refused request's key: the corrected request goes through", async () => {
    const { app, state } = createLocalProvider({ rateLimitPerSecond: 0 });
    const refused = await postResend(app, "/emails", resendEmail({ to: "bounce@example.com" }), {
      "idempotency-key": "k",
    });
    expect(refused.status).toBe(422);
    const again = await postResend(app, "/emails", resendEmail({ to: "bounce@example.com" }), {
      "idempotency-key": "k",
    });
    expect(again.status).toBe(422);
    expect(state.inbox.size).toBe(0);
  });

  it("forgets a key after 24 hours", async () => {
    const clock = manualClock();
    const { app, state } = createLocalProvider({ rateLimitPerSecond: 0, now: clock.now });
    await postResend(app, "/emails", resendEmail(), { "idempotency-key": "note-1" });
    clock.advance(24 * 60 * 60 * 1000 - 1);
    await postResend(app, "/emails", resendEmail(), { "idempotency-key": "note-1" });
    expect(state.inbox.size).toBe(1);
    clock.advance(1);
    await postResend(app, "/emails", resendEmail(), { "idempotency-key": "note-1" });
    expect(state.inbox.size).toBe(2);
  });

  it("scopes keys per API key", async () => {
    const { app, state } = createLocalProvider({ rateLimitPerSecond: 0, apiKeys: ["re_a", "re_b"] });
    await postResend(app, "/emails", resendEmail(), { "idempotency-key": "k", authorization: "Bearer re_a" });
    await postResend(app, "/emails", resendEmail(), { "idempotency-key": "k", authorization: "Bearer re_b" });
    expect(state.inbox.size).toBe(2);
  });

  it("answers 400 invalid_idempotency_key for a key longer than 256 characters", async () => {
    const { app, state } = createLocalProvider({ rateLimitPerSecond: 0 });
    const ok = await postResend(app, "/emails", resendEmail(), { "idempotency-key": "k".repeat(256) });
    expect(ok.status).toBe(200);
    const res = await postResend(app, "/emails", resendEmail(), { "idempotency-key": "k".repeat(257) });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      statusCode: 400,
      name: "invalid_idempotency_key",
      message: "The key must be between 1-256 chars.",
    });
    expect(state.inbox.size).toBe(1);
  });
});
