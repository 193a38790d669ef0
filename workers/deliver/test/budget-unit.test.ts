/**
 * The byte budget of one invocation (src/queue/budget.ts): which notes go now, which wait for the next
 * invocation, and that waiting spends none of their retries.
 */

import { env } from "cloudflare:workers";
import type { NoteMessage } from "@notepipe/pipeline";
import { describe, expect, it, vi } from "vitest";
import { envWith } from "./ledger.ts";
import { ids, makeNote, messageOf, mockProvider, resendAccepted, runQueue, type TestNote } from "./notes.ts";

/** A note whose frame is about `bytes` long. */
function noteOf(bytes: number, i: number): TestNote {
  return makeNote(`reader${i}@example.com`, bytes - 100);
}

/** A NOTES_QUEUE that records what is sent to it, or refuses. */
function recordingQueue(refuse = false) {
  const sent: NoteMessage[] = [];
  const queue = {
    async sendBatch(messages: Iterable<MessageSendRequest<NoteMessage>>) {
      if (refuse) throw new Error("Queue sendBatch failed: simulated");
      for (const message of messages) sent.push(message.body);
    },
  } as unknown as Queue;
  return { sent, queue };
}

describe("the byte budget", () => {
  it("sends the notes within it now and puts the rest back on the queue, acked, no retry spent", async () => {
    const notes = Array.from({ length: 5 }, (_, i) => noteOf(20_000, i));
    const messages = notes.map((note) => messageOf(note, { attempts: 3 }));
    const requests = mockProvider(resendAccepted);
    const { sent, queue } = recordingQueue();

    // 65,536 bytes: three frames of 20,000 fit, the fourth would not.
    const result = await runQueue(
      "notes",
      messages,
      envWith({ BATCH_FRAME_BUDGET_BYTES: "65536", NOTES_QUEUE: queue } as unknown as Partial<Env>),
    );

    expect(requests).toHaveLength(1);
    expect(requests[0]?.body).toHaveLength(3);
    expect([...result.explicitAcks].sort()).toEqual(ids(messages).sort());
    expect(result.retryMessages).toEqual([]);
    // The two that wait go back as they came, their bytes unchanged.
    expect(sent.map((body) => body.frame)).toEqual([notes[3]?.frame, notes[4]?.frame]);
  });

  it("sends the deferred notes when they come back", async () => {
    const notes = Array.from({ length: 4 }, (_, i) => noteOf(30_000, i));
    mockProvider(resendAccepted, resendAccepted);
    const { sent, queue } = recordingQueue();
    const small = envWith({ BATCH_FRAME_BUDGET_BYTES: "65536", NOTES_QUEUE: queue } as unknown as Partial<Env>);
    await runQueue(
      "notes",
      notes.map((note) => messageOf(note)),
      small,
    );
    expect(sent).toHaveLength(2);

    const back = notes.slice(2).map((note) => messageOf(note));
    const result = await runQueue("notes", back, small);

    expect([...result.explicitAcks].sort()).toEqual(ids(back).sort());
  });

  it("keeps a batch of 100 notes of 5 KB one invocation and one request under the default budget", async () => {
    const notes = Array.from({ length: 100 }, (_, i) => noteOf(5_000, i));
    const requests = mockProvider(resendAccepted);
    const { sent, queue } = recordingQueue();

    const result = await runQueue(
      "notes",
      notes.map((note) => messageOf(note)),
      envWith({ NOTES_QUEUE: queue }),
    );

    expect(env.BATCH_FRAME_BUDGET_BYTES).toBeDefined();
    expect(requests).toHaveLength(1);
    expect(requests[0]?.body).toHaveLength(100);
    expect(result.explicitAcks).toHaveLength(100);
    expect(sent).toEqual([]);
  });

  it("keeps a full notes-large batch, 8 frames of 64 KiB, one invocation and one request", async () => {
    const notes = Array.from({ length: 8 }, (_, i) => noteOf(65_536, i));
    const requests = mockProvider(resendAccepted);
    const small = recordingQueue();
    const large = recordingQueue();

    const result = await runQueue(
      "notes-large",
      notes.map((note) => messageOf(note)),
      envWith({ NOTES_QUEUE: small.queue, NOTES_LARGE_QUEUE: large.queue }),
    );

    expect(requests).toHaveLength(1);
    expect(requests[0]?.body).toHaveLength(8);
    expect(result.explicitAcks).toHaveLength(8);
    expect([small.sent, large.sent]).toEqual([[], []]);
  });

  it("puts what a notes-large batch cannot send back on notes-large, where it came from", async () => {
    const notes = Array.from({ length: 3 }, (_, i) => noteOf(30_000, i));
    mockProvider(resendAccepted);
    const small = recordingQueue();
    const large = recordingQueue();

    await runQueue(
      "notes-large",
      notes.map((note) => messageOf(note)),
      envWith({
        BATCH_FRAME_BUDGET_BYTES: "65536",
        NOTES_QUEUE: small.queue,
        NOTES_LARGE_QUEUE: large.queue,
      } as unknown as Partial<Env>),
    );

    expect(small.sent).toEqual([]);
    expect(large.sent.map((body) => body.frame)).toEqual([notes[2]?.frame]);
  });

  it("sends a single note larger than the budget's remainder when it is the first", async () => {
    const note = noteOf(65_000, 0);
    const requests = mockProvider(resendAccepted);

    const result = await runQueue(
      "notes",
      [messageOf(note)],
      envWith({ BATCH_FRAME_BUDGET_BYTES: "65536" } as unknown as Partial<Env>),
    );

    expect(requests).toHaveLength(1);
    expect(result.explicitAcks).toHaveLength(1);
  });

  it("retries what it could not put back on the queue, rather than lose it", async () => {
    const notes = Array.from({ length: 4 }, (_, i) => noteOf(30_000, i));
    const messages = notes.map((note) => messageOf(note));
    mockProvider(resendAccepted);
    const { queue } = recordingQueue(true);
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});

    const result = await runQueue(
      "notes",
      messages,
      envWith({ BATCH_FRAME_BUDGET_BYTES: "65536", NOTES_QUEUE: queue } as unknown as Partial<Env>),
    );

    expect([...result.explicitAcks].sort()).toEqual(ids(messages.slice(0, 2)).sort());
    expect(result.retryMessages).toEqual(
      ids(messages.slice(2))
        .sort()
        .map((msgId) => ({ msgId, delaySeconds: 5 })),
    );
    expect(String(logged.mock.calls[0]?.[0])).toContain("could not defer 2 note(s)");
  });
});
