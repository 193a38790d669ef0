/**
 * The delivery ledger's promises where a replay, a lease, a discard or the repair meets the
 * moment that breaks them: the consumers and the ledger's own RPC methods called directly, each
 * judged by what a client or an operator would see (a note sent once, a dead letter kept, a
 * record written).
 */

import { describe, expect, it, vi } from "vitest";
import { claimOf, deadLetterOf, expireLeases, ledger, ledgerNote, repairLater } from "./ledger.ts";
import {
  makeNote,
  messageOf,
  mockProvider,
  recordOf,
  resendAccepted,
  resendError,
  runQueue,
  type TestNote,
} from "./notes.ts";
import { deadLetterAfterRetries, opsRequest } from "./ops.ts";

describe("a replayed dead letter whose message is claimed before the replay finished", () => {
  it.each([
    ["a 429", resendError(429, "rate_limit_exceeded", "Too many requests.", { "retry-after": "1" })],
    ["a pipeline-level failure", resendError(403, "validation_error", "The example.com domain is not verified.")],
  ])("is retried after %s, not acked, and is then sent once", async (_name, refusal) => {
    const note = makeNote();
    await deadLetterAfterRetries([note]);
    // The replay's first step marked the entry; its message reaches the consumer before the last step.
    const token = Date.now();
    const { replay } = await ledger().beginReplay([note.id], token, false);
    expect(replay.map((entry) => entry.id)).toEqual([note.id]);

    mockProvider(refusal.clone());
    const message = messageOf(note, { replayedAt: token });
    const refused = await runQueue("notes", [message]);

    expect(refused.explicitAcks).toEqual([]);
    expect(refused.retryMessages.map((retry) => retry.msgId)).toEqual([message.id]);
    await ledger().finishReplay([note.id], token);

    const sends = mockProvider(resendAccepted);
    const again = messageOf(note, { replayedAt: token, attempts: 2 });
    const sent = await runQueue("notes", [again]);

    expect(sends).toHaveLength(1);
    expect(sent.explicitAcks).toEqual([again.id]);
    expect(await recordOf(note.id)).toMatchObject({ state: "sent", providerId: "re_0" });
    expect(await deadLetterOf(note.id)).toBeNull();
  });

  it("stays a dead letter when its retries run out again", async () => {
    const note = makeNote();
    await deadLetterAfterRetries([note]);
    const token = Date.now();
    await ledger().beginReplay([note.id], token, false);
    mockProvider(resendError(429, "rate_limit_exceeded", "Too many requests.", { "retry-after": "1" }));
    await runQueue("notes", [messageOf(note, { replayedAt: token, attempts: 11 })]);

    const filing = await runQueue("notes-dlq", [messageOf(note, { replayedAt: token })]);

    expect(filing.explicitAcks).toHaveLength(1);
    expect(await deadLetterOf(note.id)).toMatchObject({ reason: "rate_limited" });
    expect(await recordOf(note.id)).toMatchObject({ state: "dead", errorCode: "rate_limited" });

    // Only a new replay takes the new dead letter back: a late copy of the spent one is acked unsent.
    const sends = mockProvider();
    const late = messageOf(note, { replayedAt: token, attempts: 2 });
    const stale = await runQueue("notes", [late]);

    expect(sends).toEqual([]);
    expect(stale.explicitAcks).toEqual([late.id]);
    expect(await deadLetterOf(note.id)).toMatchObject({ reason: "rate_limited" });
  });
});

describe("several requests handed back by one claim", () => {
  it("are each held for as long as the invocation takes to send them all", async () => {
    const [a, b] = [makeNote(), makeNote()];
    // Two requests, each sent by an invocation that died without an answer.
    await ledger().claim(claimOf("lost-1", [a]));
    await ledger().claim(claimOf("lost-2", [b]));
    await expireLeases();
    const start = Date.now();
    const claim = claimOf("first", [a, b]);
    const first = await ledger().claim(claim);
    expect(first.sends).toHaveLength(2);

    // While the first invocation still sends its second request, a second claims the same notes.
    const clock = vi.spyOn(Date, "now").mockReturnValue(start + claim.leaseMs + 1000);
    try {
      const second = await ledger().claim(claimOf("second", [a, b]));
      expect(second.sends).toEqual([]);
      expect(second.decisions[a.id]).toMatchObject({ kind: "wait" });
      expect(second.decisions[b.id]).toMatchObject({ kind: "wait" });
    } finally {
      clock.mockRestore();
    }
  });
});

/** A note whose request the provider left unanswered, filed as dead while that request holds it. */
async function heldDeadLetter(): Promise<TestNote> {
  const note = makeNote();
  mockProvider(resendError(500, "internal_server_error", "An unexpected error occurred."));
  await runQueue("notes", [messageOf(note)]);
  await expireLeases();
  await runQueue("notes-dlq", [messageOf(note)]);
  expect(await ledgerNote(note.id)).toMatchObject({ state: "dead", dead_letter: 1, request_key: expect.any(String) });
  return note;
}

describe("a dead letter held by an unanswered request", () => {
  it("can be discarded, and its frame goes with its request", async () => {
    const note = await heldDeadLetter();

    const res = await opsRequest(`/ops/dead-letters/${note.id}`, { method: "DELETE" });

    expect(res.status).toBe(200);
    expect(await deadLetterOf(note.id)).toBeNull();
    expect(await ledgerNote(note.id)).toMatchObject({ state: "failed", request_key: null, frame: null });
    expect(await recordOf(note.id)).toMatchObject({ state: "failed", errorCode: "discarded" });
  });

  it("is pruned once it expires, frame and all", async () => {
    const note = await heldDeadLetter();
    await repairLater();
    const clock = vi.spyOn(Date, "now").mockReturnValue(Date.now() + 40 * 24 * 60 * 60 * 1000);
    try {
      await ledger().prune();
    } finally {
      clock.mockRestore();
    }

    expect(await ledgerNote(note.id)).toBeNull();
  });
});

describe("the KV repair", () => {
  it("writes a record behind however many discarded entries without a note id came before it", async () => {
    const entries = Array.from({ length: 201 }, (_, i) => ({
      id: `msg-starve-${i}`,
      isNoteId: false,
      frame: null,
      acceptedAt: null,
      attempts: 1,
      problem: "The body holds no frame.",
    }));
    await ledger().fileDeadLetters([], entries, true);
    for (const entry of entries) expect(await ledger().discard(entry.id)).toMatchObject({ kind: "discarded" });
    const note = makeNote();
    // Filed straight in the ledger: its `dead` record is behind, as if KV had refused it.
    await ledger().fileDeadLetters([{ id: note.id, frame: note.frame, acceptedAt: null, attempts: 0 }], [], true);

    await repairLater();

    expect(await recordOf(note.id)).toMatchObject({ state: "dead" });
  });
});
