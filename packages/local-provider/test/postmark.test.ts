import { describe, expect, it } from "vitest";
import { createLocalProvider } from "../src/index.ts";
import { NOTE_ID, postmarkMessage, postPostmark } from "./requests.ts";

function provider() {
  return createLocalProvider({ rateLimitPerSecond: 0 });
}

describe("POST /email/batch", () => {
  it("answers one entry per message in request order, ErrorCode 0 for those it took", async () => {
    const { app, state } = provider();
    const res = await postPostmark(app, [
      postmarkMessage({ To: "ada@example.com" }),
      postmarkMessage({ To: "ada@example.invalid" }),
      postmarkMessage({ To: "not an address" }),
    ]);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>[];
    expect(body).toEqual([
      {
        ErrorCode: 0,
        Message: "OK",
        MessageID: state.inbox.list()[0]?.id,
        SubmittedAt: expect.any(String),
        To: "ada@example.com",
      },
      {
        ErrorCode: 406,
        Message: "The recipient ada@example.invalid is at a .invalid domain; the local provider refuses those.",
        To: "ada@example.invalid",
      },
      { ErrorCode: 300, Message: "Error parsing 'To': Illegal email address 'not an address'.", To: "not an address" },
    ]);
    expect(state.inbox.size).toBe(1);
  });

  it("records the note id from Metadata, and the headers by name", async () => {
    const { app, state } = provider();
    await postPostmark(app, [postmarkMessage()]);
    expect(state.inbox.list()[0]).toMatchObject({
      provider: "postmark",
      noteId: NOTE_ID,
      metadata: { note_id: NOTE_ID },
      headers: { "X-Notepipe-Note-Id": NOTE_ID },
      text: "AAAAAAAAAAAAAAAA\nY2lwaGVydGV4dA==",
    });
  });

  it("answers 401 ErrorCode 10 without a server token", async () => {
    const { app } = provider();
    const res = await postPostmark(app, [postmarkMessage()], { "x-postmark-server-token": "wrong" });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ ErrorCode: 10, Message: "Request does not contain a valid Server token." });
  });

  it("refuses more than 500 messages with 422 ErrorCode 410", async () => {
    const { app, state } = provider();
    const res = await postPostmark(
      app,
      Array.from({ length: 501 }, () => postmarkMessage()),
    );
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ ErrorCode: 410 });
    expect(state.inbox.size).toBe(0);
  });

  it("answers invalid JSON with 422 ErrorCode 402", async () => {
    const { app } = provider();
    const res = await postPostmark(app, "[{");
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ ErrorCode: 402 });
  });

  it("answers a message without a body with ErrorCode 300", async () => {
    const { app } = provider();
    const res = await postPostmark(app, [postmarkMessage({ TextBody: undefined })]);
    expect(await res.json()).toEqual([
      { ErrorCode: 300, Message: "Provide either email TextBody or HtmlBody or both.", To: "ada@example.com" },
    ]);
  });
});
