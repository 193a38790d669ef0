/**
 * The whole path on the real local stack: ingest → queue → deliver → local provider → KV status.
 */

import { type LocalStack as Stack, startStack } from "@notepipe/local-stack";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decryptEmailText, emailsByNote, FAST_RETRY_VARS, makeNote, postNote, waitForFinalStates } from "./notes.ts";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ ingestPort: 0, providerPort: 0, ephemeral: true, deliverVars: FAST_RETRY_VARS });
});

afterAll(async () => {
  await stack?.stop();
});

describe("a posted note", () => {
  it("ends sent, as exactly one email to its recipient that decrypts to its text", async () => {
    const notes = await Promise.all([
      makeNote("The first note.", "ada@example.com"),
      makeNote("Zweite Notiz: grüße, ünïcödé ✓", "grace@example.com"),
      makeNote("A third, to the same reader as the first.", "ada@example.com"),
    ]);
    for (const note of notes) {
      const res = await postNote(stack, note);
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual({ id: note.id });
    }

    const states = await waitForFinalStates(
      stack,
      notes.map((note) => note.id),
      60_000,
    );
    expect(Object.fromEntries(states)).toEqual(Object.fromEntries(notes.map((note) => [note.id, "sent"])));

    const inbox = await emailsByNote(stack);
    for (const note of notes) {
      const emails = inbox.get(note.id) ?? [];
      expect(emails).toHaveLength(1);
      expect(emails[0]).toMatchObject({
        from: "notepipe <notes@notepipe.dev>",
        to: [note.recipient],
        subject: "Encrypted Note",
        noteId: note.id,
      });
      expect(await decryptEmailText(emails[0]?.text ?? null, note.key)).toBe(note.text);
    }
  });

  it("of 48 KB (on notes-large) and a small one (on notes), posted together, are each sent once", async () => {
    // 48,000 characters: a frame of about 48 KB, over SMALL_FRAME_MAX_BYTES, so on the other queue.
    const large = await makeNote("A long note. ".repeat(3_700), "ada@example.com");
    const small = await makeNote("A short one, posted with it.", "grace@example.com");
    expect((await postNote(stack, large)).status).toBe(202);
    expect((await postNote(stack, small)).status).toBe(202);

    const states = await waitForFinalStates(stack, [large.id, small.id], 60_000);
    expect(Object.fromEntries(states)).toEqual({ [large.id]: "sent", [small.id]: "sent" });
    const inbox = await emailsByNote(stack);
    expect(inbox.get(large.id)).toHaveLength(1);
    expect(await decryptEmailText(inbox.get(large.id)?.[0]?.text ?? null, large.key)).toBe(large.text);
    expect(inbox.get(small.id)).toHaveLength(1);
  });

  it("posted twice (a client retry) is answered 202 twice and still sent once", async () => {
    const note = await makeNote("Sent twice by a client that lost the first answer.", "ada@example.com");
    expect((await postNote(stack, note)).status).toBe(202);
    expect((await postNote(stack, note)).status).toBe(202);

    const states = await waitForFinalStates(stack, [note.id], 60_000);
    expect(states.get(note.id)).toBe("sent");
    expect((await emailsByNote(stack)).get(note.id)).toHaveLength(1);
  });

  it("to a recipient the provider refuses ends failed, with no email", async () => {
    const refused = await makeNote("Nobody will read this.", "bounce@example.com");
    const fine = await makeNote("Same batch, other reader.", "grace@example.com");
    expect((await postNote(stack, refused)).status).toBe(202);
    expect((await postNote(stack, fine)).status).toBe(202);

    const states = await waitForFinalStates(stack, [refused.id, fine.id], 60_000);
    expect(states.get(refused.id)).toBe("failed");
    expect(states.get(fine.id)).toBe("sent");
    const inbox = await emailsByNote(stack);
    expect(inbox.get(refused.id)).toBeUndefined();
    expect(inbox.get(fine.id)).toHaveLength(1);
  });
});
