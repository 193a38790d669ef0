/** The `notes` consumer with MAIL_PROVIDER = "postmark": same outcomes, Postmark's wire format. */

import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { TEST_MAIL_API_KEY, TEST_MAIL_API_URL } from "./config.ts";
import { byId, fixJitter, ids, makeNotes, messageOf, mockProvider, recordOf, runQueue } from "./notes.ts";

const postmark = { ...env, MAIL_PROVIDER: "postmark" } as unknown as Env;

function sorted(values: readonly string[]): string[] {
  return [...values].sort();
}

describe("Postmark", () => {
  it("sends one batch with the server token, and maps each message's result to its note", async () => {
    const notes = byId(makeNotes(3));
    const messages = notes.map((note) => messageOf(note));
    const requests = mockProvider(
      Response.json([
        {
          ErrorCode: 0,
          Message: "OK",
          MessageID: "pm-0",
          SubmittedAt: "2026-11-23T07:00:00Z",
          To: "reader0@example.com",
        },
        { ErrorCode: 406, Message: "You tried to send to a recipient that has been marked as inactive.", To: "x" },
        { ErrorCode: 300, Message: "Error parsing 'To': Illegal email address 'reader2@example'.", To: "x" },
      ]),
    );

    const result = await runQueue("notes", messages, postmark);

    expect(sorted(result.explicitAcks)).toEqual(sorted(ids(messages)));
    expect(result.retryMessages).toEqual([]);
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request?.url).toBe(`${TEST_MAIL_API_URL}/email/batch`);
    expect(request?.headers.get("x-postmark-server-token")).toBe(TEST_MAIL_API_KEY);
    expect(request?.headers.get("authorization")).toBeNull();
    expect(request?.headers.get("idempotency-key")).toBeNull();
    expect(request?.body).toEqual(
      notes.map((note) => ({
        From: env.MAIL_FROM,
        To: note.recipient,
        Subject: env.MAIL_SUBJECT,
        TextBody: `${note.nonce.toBase64()}\n${note.ciphertext.toBase64()}`,
        Headers: [{ Name: "X-Notepipe-Note-Id", Value: note.id }],
        Metadata: { note_id: note.id },
      })),
    );
    const [sent, inactive, invalid] = notes as [(typeof notes)[0], (typeof notes)[0], (typeof notes)[0]];
    expect(await recordOf(sent.id)).toMatchObject({ state: "sent", providerId: "pm-0" });
    expect(await recordOf(inactive.id)).toMatchObject({ state: "failed", errorCode: "inactive_recipient" });
    const record = await recordOf(invalid.id);
    expect(record).toMatchObject({ state: "failed", errorCode: "rejected" });
    expect(record?.error).not.toContain("reader2@example");
  });

  it("backs off from a 429, which carries no Retry-After", async () => {
    fixJitter(0.5);
    const message = messageOf(makeNotes(1)[0] as ReturnType<typeof makeNotes>[0]);
    mockProvider(new Response(JSON.stringify({ ErrorCode: 429, Message: "Rate limit exceeded." }), { status: 429 }));

    const result = await runQueue("notes", [message], postmark);

    // attempt 1: up to 30 s, half of it.
    expect(result.retryMessages).toEqual([{ msgId: message.id, delaySeconds: 15 }]);
  });

  it("holds the batch for an hour on a bad server token", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const messages = makeNotes(2).map((note) => messageOf(note));
    mockProvider(
      Response.json({ ErrorCode: 10, Message: "Request does not contain a valid Server token." }, { status: 401 }),
    );

    const result = await runQueue("notes", messages, postmark);

    expect([...result.retryMessages].sort((a, b) => (a.msgId < b.msgId ? -1 : 1))).toEqual(
      sorted(ids(messages)).map((msgId) => ({ msgId, delaySeconds: 3600 })),
    );
    expect(result.explicitAcks).toEqual([]);
  });

  it("sends the same request again after a 500: Postmark has no keys, so such notes are at-least-once", async () => {
    fixJitter(0.5);
    const notes = makeNotes(2);
    const first = mockProvider(new Response("Internal Server Error", { status: 500 }));
    await runQueue(
      "notes",
      notes.map((note) => messageOf(note)),
      postmark,
    );
    for (const note of notes) {
      expect(await recordOf(note.id)).toMatchObject({ state: "retrying", errorCode: "provider_unavailable" });
    }
    vi.restoreAllMocks();
    const requests = mockProvider((request) =>
      Response.json((request.body as unknown[]).map((_, i) => ({ ErrorCode: 0, Message: "OK", MessageID: `pm-${i}` }))),
    );

    const result = await runQueue(
      "notes",
      notes.map((note) => messageOf(note, { attempts: 2 })),
      postmark,
    );

    expect(requests).toHaveLength(1);
    expect(requests[0]?.headers.get("idempotency-key")).toBeNull();
    expect(requests[0]?.body).toEqual(first[0]?.body);
    expect(result.explicitAcks).toHaveLength(2);
  });
});
