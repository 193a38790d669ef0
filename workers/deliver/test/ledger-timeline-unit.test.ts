/**
 * A note's timeline, as the ops console shows it: each attempt's outcome with its delay, the
 * dead letter, the replay, the send and the delivery, written with the note's own row; the steps
 * past the cap keep the first and the latest.
 */

import { describe, expect, it } from "vitest";
import { appendStep, MAX_STEPS, readSteps } from "../src/ledger/timeline.ts";
import { ledger } from "./ledger.ts";
import { makeNote, messageOf, mockProvider, resendAccepted, resendError, runQueue } from "./notes.ts";

describe("a note's timeline", () => {
  it("records a 429 with its delay, the send, and nothing of the note's content", async () => {
    const note = makeNote("jane.doe@example.com");
    mockProvider(resendError(429, "rate_limit_exceeded", "Too many requests.", { "retry-after": "7" }));
    const first = await runQueue("notes", [messageOf(note)]);
    mockProvider(resendAccepted);
    await runQueue("notes", [messageOf(note, { attempts: 2 })]);

    const timeline = await ledger().timeline(note.id);
    expect(timeline).toMatchObject({ id: note.id, state: "sent", attempts: 2, acceptedAt: 1_790_000_000_000 });
    expect(timeline?.steps.map(({ kind, code }) => ({ kind, code }))).toEqual([
      { kind: "retrying", code: "rate_limited" },
      { kind: "sent", code: undefined },
    ]);
    // The delay the message was retried with, as Queues was told.
    expect(timeline?.steps[0]?.delaySeconds).toBe(first.retryMessages[0]?.delaySeconds);
    // The frame is gone once sent: no address, and never a nonce or ciphertext.
    expect(timeline?.recipient).toBeNull();
    expect(JSON.stringify(timeline)).not.toContain(note.ciphertext.toBase64());
  });

  it("names the recipient of a dead letter's frame, for the console to mask", async () => {
    const note = makeNote("jane.doe@example.com");
    mockProvider(({ body }) =>
      Response.json({ data: [], errors: (body as unknown[]).map((_, index) => ({ index, message: "Invalid `to`." })) }),
    );
    await runQueue("notes", [messageOf(note)]);

    const timeline = await ledger().timeline(note.id);
    expect(timeline).toMatchObject({
      state: "failed",
      recipient: "jane.doe@example.com",
      deadLetter: { possiblySent: false },
      errorCode: "rejected",
    });
    expect(timeline?.steps.map((step) => step.kind)).toEqual(["failed"]);
  });

  it("is null for a note the ledger does not know", async () => {
    expect(await ledger().timeline("3b241101-e2bb-4255-8caf-4136c566a962")).toBeNull();
  });

  it("keeps the first step and the latest ones past its cap", () => {
    let text: string | null = null;
    for (let i = 0; i < MAX_STEPS + 5; i++) {
      text = appendStep(text, { kind: "retrying", at: 1_000 + i, code: "rate_limited", delaySeconds: i });
    }
    const { steps, omitted } = readSteps(text);
    expect(omitted).toBe(true);
    expect(steps).toHaveLength(MAX_STEPS - 1);
    expect(steps[0]).toEqual({ kind: "retrying", at: 1_000, code: "rate_limited", delaySeconds: 0 });
    expect(steps.at(-1)).toEqual({
      kind: "retrying",
      at: 1_000 + MAX_STEPS + 4,
      code: "rate_limited",
      delaySeconds: MAX_STEPS + 4,
    });
  });
});
