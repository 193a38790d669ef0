import { describe, expect, it } from "vitest";
import { createLocalProvider } from "../src/index.ts";
import { NOTE_ID, postResend, resendEmail } from "./requests.ts";

function provider() {
  return createLocalProvider({ rateLimitPerSecond: 0 });
}

describe("POST /emails", () => {
  it("answers the new email's id and puts the email in the inbox with its note id", async () => {
    const { app, state } = provider();
    const res = await postResend(app, "/emails", resendEmail());
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    expect(state.inbox.list()).toEqual([
      {
        id,
        provider: "resend",
        from: "notepipe <notes@notepipe.dev>",
        to: ["ada@example.com"],
        subject: "Encrypted Note",
        text: "AAAAAAAAAAAAAAAA\nY2lwaGVydGV4dA==",
        html: null,
        headers: { "X-Notepipe-Note-Id": NOTE_ID },
        tags: [{ name: "note_id", value: NOTE_ID }],
        metadata: {},
        noteId: NOTE_ID,
        idempotencyKey: null,
        receivedAt: expect.any(String),
      },
    ]);
  });

  it("takes the note id from the header when there is no tag", async () => {
    const { app, state } = provider();
    await postResend(app, "/emails", resendEmail({ tags: undefined }));
    expect(state.inbox.list()[0]?.noteId).toBe(NOTE_ID);
  });

  it("answers 401 missing_api_key without an Authorization header", async () => {
    const { app } = provider();
    const res = await postResend(app, "/emails", resendEmail(), { authorization: "" });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      statusCode: 401,
      name: "missing_api_key",
      message: "Missing API key in the authorization header.",
    });
  });

  it("answers 403 invalid_api_key for a key it does not know", async () => {
    const { app, state } = provider();
    const res = await postResend(app, "/emails", resendEmail(), { authorization: "Bearer re_wrong" });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ statusCode: 403, name: "invalid_api_key", message: "API key is invalid." });
    expect(state.inbox.size).toBe(0);
  });

  it("answers 422 missing_required_field for an email without a subject", async () => {
    const { app } = provider();
    const res = await postResend(app, "/emails", resendEmail({ subject: undefined }));
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      statusCode: 422,
      name: "missing_required_field",
      message: "The `subject` field is missing.",
    });
  });

  it("answers 422 validation_error for a recipient the provider refuses", async () => {
    const { app, state } = provider();
    const res = await postResend(app, "/emails", resendEmail({ to: "ada@example.invalid" }));
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ name: "validation_error", message: expect.stringContaining(".invalid") });
    expect(state.inbox.size).toBe(0);
  });

  it("answers 400 validation_error for a body that is not JSON", async () => {
    const { app } = provider();
    const res = await postResend(app, "/emails", "{not json");
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      statusCode: 400,
      name: "validation_error",
      message: "The request body is not valid JSON.",
    });
  });
});

describe("POST /emails/batch", () => {
  const batch = [
    resendEmail({ to: "ada@example.com" }),
    resendEmail({ to: "bounce@example.com" }),
    resendEmail({ to: "grace@example.com" }),
  ];

  it("in strict mode (the default) refuses the whole batch for one refused recipient, sending nothing", async () => {
    const { app, state } = provider();
    const res = await postResend(app, "/emails/batch", batch);
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      statusCode: 422,
      name: "validation_error",
      message: "emails[1]: The recipient bounce@example.com is a bounce@ mailbox; the local provider refuses those.",
    });
    expect(state.inbox.size).toBe(0);
  });

  it("in permissive mode sends the valid emails and lists the others by index", async () => {
    const { app, state } = provider();
    const res = await postResend(app, "/emails/batch", batch, { "x-batch-validation": "permissive" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { id: string }[]; errors: unknown[] };
    expect(body.errors).toEqual([
      { index: 1, message: "The recipient bounce@example.com is a bounce@ mailbox; the local provider refuses those." },
    ]);
    // data lists the created emails in request order, without their index.
    expect(body.data.map((d) => d.id)).toEqual(state.inbox.list().map((email) => email.id));
    expect(state.inbox.list().map((email) => email.to)).toEqual([["ada@example.com"], ["grace@example.com"]]);
  });

  it("answers {data} only in strict mode", async () => {
    const { app } = provider();
    const res = await postResend(app, "/emails/batch", [resendEmail()]);
    expect(Object.keys((await res.json()) as object)).toEqual(["data"]);
  });

  it("refuses more than 100 emails with 422", async () => {
    const { app, state } = provider();
    const res = await postResend(
      app,
      "/emails/batch",
      Array.from({ length: 101 }, () => resendEmail()),
      {
        "x-batch-validation": "permissive",
      },
    );
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ name: "validation_error", message: expect.stringContaining("101") });
    expect(state.inbox.size).toBe(0);
  });

  it("takes exactly 100 emails", async () => {
    const { app, state } = provider();
    const res = await postResend(
      app,
      "/emails/batch",
      Array.from({ length: 100 }, () => resendEmail()),
    );
    expect(res.status).toBe(200);
    expect(state.inbox.size).toBe(100);
  });

  it("refuses an unknown x-batch-validation mode", async () => {
    const { app } = provider();
    const res = await postResend(app, "/emails/batch", [resendEmail()], { "x-batch-validation": "lenient" });
    expect(res.status).toBe(422);
  });

  it("refuses tags Resend would refuse (only letters, digits, _ and -)", async () => {
    const { app } = provider();
    const res = await postResend(app, "/emails/batch", [resendEmail({ tags: [{ name: "note id", value: "x" }] })]);
    expect(res.status).toBe(422);
  });
});
