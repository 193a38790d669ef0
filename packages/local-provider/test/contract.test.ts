/**
 * The rules of resend-contract.ts and postmark-contract.ts that the other test files do not cover,
 * each answered as the real API documents it. What deliver decides for each answer is
 * workers/deliver/test/provider-contract-unit.test.ts.
 */

import { describe, expect, it } from "vitest";
import { createLocalProvider, POSTMARK_LIMITS, RESEND_LIMITS } from "../src/index.ts";
import { postmarkMessage, postPostmark, postResend, resendEmail } from "./requests.ts";

describe("Resend: what stands in front of the API", () => {
  it.each([
    ["missing", undefined],
    ["blank", "  "],
  ])("refuses a request whose User-Agent is %s with Cloudflare's 1010, before the key is read", async (_, agent) => {
    const { app, state } = createLocalProvider();
    const headers: Record<string, string> = { authorization: "Bearer not_a_key" };
    const res = await app.request("/emails/batch", {
      method: "POST",
      headers:
        agent === undefined
          ? { ...headers, "content-type": "application/json" }
          : { ...headers, "user-agent": agent, "content-type": "application/json" },
      body: JSON.stringify([resendEmail()]),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await res.text()).toBe("error code: 1010");
    expect(state.inbox.size).toBe(0);
  });
});

describe("Resend: the request", () => {
  it("refuses a body not sent as application/json with 400 validation_error", async () => {
    const { app, state } = createLocalProvider();
    const res = await postResend(app, "/emails/batch", [resendEmail()], { "content-type": "text/plain" });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ statusCode: 400, name: "validation_error" });
    expect(state.inbox.size).toBe(0);
  });

  it.each(["attachments", "scheduled_at"])("takes no `%s` in a batch, though a single email may", async (field) => {
    const { app } = createLocalProvider({ rateLimitPerSecond: 0 });
    const value = field === "attachments" ? [{ filename: "a.txt", content: "YQ==" }] : "in 1 min";
    const res = await postResend(app, "/emails/batch", [resendEmail(), resendEmail({ [field]: value })], {
      "x-batch-validation": "permissive",
    });
    expect(await res.json()).toEqual({
      data: [{ id: expect.any(String) }],
      errors: [{ index: 1, message: `The \`${field}\` field is not supported in a batch.` }],
    });
    expect((await postResend(app, "/emails", resendEmail({ [field]: value }))).status).toBe(200);
  });

  it(`takes ${RESEND_LIMITS.emailsPerBatch} emails in a batch and refuses ${RESEND_LIMITS.emailsPerBatch + 1}`, async () => {
    const { app, state } = createLocalProvider();
    const full = Array.from({ length: RESEND_LIMITS.emailsPerBatch }, () => resendEmail());
    expect((await postResend(app, "/emails/batch", full)).status).toBe(200);
    const over = await postResend(app, "/emails/batch", [...full, resendEmail()]);
    expect(over.status).toBe(422);
    expect(await over.json()).toMatchObject({ name: "validation_error" });
    expect(state.inbox.size).toBe(RESEND_LIMITS.emailsPerBatch);
  });
});

describe("Postmark: the request", () => {
  it.each([
    ["no Accept", { accept: "" }],
    ["an Accept without JSON", { accept: "text/html" }],
    ["an Accept that refuses JSON", { accept: "application/json;q=0" }],
    ["no JSON Content-Type", { "content-type": "text/plain" }],
  ])("answers %s with 415 Unsupported Media Type and sends nothing", async (_, headers) => {
    const { app, state } = createLocalProvider();
    const res = await postPostmark(app, [postmarkMessage()], headers);
    expect(res.status).toBe(415);
    expect(await res.text()).toBe("Unsupported Media Type");
    expect(state.inbox.size).toBe(0);
  });

  it("takes `Accept: */*` and a charset on the Content-Type", async () => {
    const { app } = createLocalProvider();
    const res = await postPostmark(app, [postmarkMessage()], {
      accept: "*/*",
      "content-type": "application/json; charset=utf-8",
    });
    expect(res.status).toBe(200);
  });

  it("needs no User-Agent", async () => {
    const { app } = createLocalProvider();
    expect((await postPostmark(app, [postmarkMessage()], { "user-agent": "" })).status).toBe(200);
  });

  it("refuses a batch over 50 MB with 413 and sends nothing", async () => {
    const { app, state } = createLocalProvider();
    const text = "a".repeat(POSTMARK_LIMITS.bodyBytes - 1024);
    const messages = Array.from({ length: 11 }, () => postmarkMessage({ TextBody: text }));
    const res = await postPostmark(app, messages);
    expect(res.status).toBe(413);
    expect(await res.text()).toBe("Payload Too Large");
    expect(state.inbox.size).toBe(0);
  });

  it("refuses a body that is not an array with ErrorCode 403", async () => {
    const { app } = createLocalProvider();
    const res = await postPostmark(app, postmarkMessage());
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ ErrorCode: 403 });
  });

  it.each([
    ["a TextBody over 5 MB", { TextBody: "a".repeat(POSTMARK_LIMITS.bodyBytes + 1) }],
    [
      "a message over 10 MB",
      {
        TextBody: "a".repeat(POSTMARK_LIMITS.bodyBytes - 10),
        HtmlBody: "b".repeat(POSTMARK_LIMITS.bodyBytes - 10),
        Subject: "s".repeat(100),
      },
    ],
    ["a Tag over 1000 characters", { Tag: "t".repeat(POSTMARK_LIMITS.tagChars + 1) }],
    ["51 recipients in To and Cc", { Cc: Array.from({ length: 50 }, (_, i) => `c${i}@example.com`).join(",") }],
  ])("answers ErrorCode 300 for the one message with %s", async (_, overrides) => {
    const { app, state } = createLocalProvider();
    const res = await postPostmark(app, [postmarkMessage(), postmarkMessage(overrides)]);
    expect(res.status).toBe(200);
    const [taken, refused] = (await res.json()) as { ErrorCode: number }[];
    expect(taken).toMatchObject({ ErrorCode: 0, Message: "OK" });
    expect(refused).toMatchObject({ ErrorCode: 300, To: "ada@example.com" });
    expect(state.inbox.size).toBe(1);
  });
});
