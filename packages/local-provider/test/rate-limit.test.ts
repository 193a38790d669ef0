import { describe, expect, it } from "vitest";
import { createLocalProvider } from "../src/index.ts";
import { manualClock, postJson, postmarkMessage, postPostmark, postResend, resendEmail } from "./requests.ts";

describe("rate limit", () => {
  it("allows 5 requests per second per key by default and answers the sixth 429 with Resend's headers", async () => {
    const clock = manualClock();
    const { app, state } = createLocalProvider({ now: clock.now });
    const first = await postResend(app, "/emails", resendEmail());
    expect(first.status).toBe(200);
    expect(
      ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"].map((name) => first.headers.get(name)),
    ).toEqual(["5", "4", "1"]);
    clock.advance(400);
    for (let i = 0; i < 4; i++) expect((await postResend(app, "/emails", resendEmail())).status).toBe(200);
    clock.advance(100);
    const sixth = await postResend(app, "/emails", resendEmail());
    expect(sixth.status).toBe(429);
    expect(sixth.headers.get("retry-after")).toBe("1");
    expect(sixth.headers.get("ratelimit-remaining")).toBe("0");
    expect(await sixth.json()).toEqual({
      statusCode: 429,
      name: "rate_limit_exceeded",
      message: "Too many requests. You can only make 5 requests per second. See the rate limit response headers.",
    });
    expect(state.inbox.size).toBe(5);

    clock.advance(500);
    expect((await postResend(app, "/emails", resendEmail())).status).toBe(200);
  });

  it("does not count a request Resend's edge refused for want of a User-Agent", async () => {
    const clock = manualClock();
    const { app } = createLocalProvider({ now: clock.now, rateLimitPerSecond: 1 });
    expect((await postResend(app, "/emails", resendEmail(), { "user-agent": "" })).status).toBe(403);
    const res = await postResend(app, "/emails", resendEmail());
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit-remaining")).toBe("0");
  });

  it("counts each API key on its own", async () => {
    const clock = manualClock();
    const { app } = createLocalProvider({ now: clock.now, apiKeys: ["re_a", "re_b"], rateLimitPerSecond: 1 });
    expect((await postResend(app, "/emails", resendEmail(), { authorization: "Bearer re_a" })).status).toBe(200);
    expect((await postResend(app, "/emails", resendEmail(), { authorization: "Bearer re_b" })).status).toBe(200);
    expect((await postResend(app, "/emails", resendEmail(), { authorization: "Bearer re_a" })).status).toBe(429);
  });

  it("answers Postmark's 429 without Retry-After or rate-limit headers", async () => {
    const clock = manualClock();
    const { app } = createLocalProvider({ now: clock.now, rateLimitPerSecond: 1 });
    const first = await postPostmark(app, [postmarkMessage()]);
    expect(first.headers.get("ratelimit-limit")).toBeNull();
    const res = await postPostmark(app, [postmarkMessage()]);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBeNull();
    expect(await res.json()).toMatchObject({ ErrorCode: 429 });
  });

  it("can be changed or turned off through the control endpoint", async () => {
    const clock = manualClock();
    const { app } = createLocalProvider({ now: clock.now });
    expect((await postJson(app, "/_control/rate-limit", { requestsPerSecond: 0 })).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await postResend(app, "/emails", resendEmail())).status).toBe(200);
  });
});
