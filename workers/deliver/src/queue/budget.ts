/**
 * The byte budget of one invocation. A queue consumer shares the CPU limit of any Worker (10 ms on
 * the Free plan), and building and sending a request costs CPU in proportion to its bytes
 * (docs/BENCHMARKS.md, "deliver"): past BATCH_FRAME_BUDGET_BYTES of frames, the batch's other notes
 * wait for the next invocation.
 *
 * They wait as new messages, not as retries: Queues counts every `retry()`, whatever its delay, as a
 * failed attempt against `max_retries` (Miniflare's broker does the same: `incrementFailedAttempts`
 * on every retried message), so a `retry({ delaySeconds: 0 })` would spend the note's retries on a
 * note nothing was wrong with. A deferred note is sent back to the queue as it came (its body
 * unchanged) and its message acked once that send resolved; its next delivery counts from 1 again.
 */

import type { NoteMessage } from "@notepipe/pipeline";

/** Queues' sendBatch limits: 100 messages and 256 KB in all; a frame is at most 64 KiB. */
const SEND_BATCH_MESSAGES = 100;
const SEND_BATCH_BYTES = 240_000;
/** Room for a message's v8 envelope and its `acceptedAt`/`replayedAt` beside the frame. */
const MESSAGE_OVERHEAD_BYTES = 200;
/** If the queue refuses the send, the note is retried instead, after this long (an attempt spent). */
const DEFER_FAILED_RETRY_SECONDS = 5;

export interface Budgeted {
  /** Frame bytes, 0 for a message that holds no frame. */
  bytes: number;
  messages: Message<unknown>[];
}

/**
 * Splits `items`, in queue order, into what this invocation sends and what waits: at most `budget`
 * frame bytes go now, and always the first note, however large.
 *
 * @example
 * const { now, later } = withinBudget(notes, 1_048_576);
 */
export function withinBudget<T extends Budgeted>(items: Iterable<T>, budget: number): { now: T[]; later: T[] } {
  const now: T[] = [];
  const later: T[] = [];
  let spent = 0;
  for (const item of items) {
    if (item.bytes > 0 && spent > 0 && spent + item.bytes > budget) {
      later.push(item);
      continue;
    }
    spent += item.bytes;
    now.push(item);
  }
  return { now, later };
}

/** Sends each deferred note back to the queue as it came, then acks its messages. Never throws. */
export async function deferToNextInvocation(queue: Queue, items: readonly Budgeted[]): Promise<void> {
  let chunk: Budgeted[] = [];
  let bytes = 0;
  const chunks: Budgeted[][] = [];
  for (const item of items) {
    const size = item.bytes + MESSAGE_OVERHEAD_BYTES;
    if (chunk.length === SEND_BATCH_MESSAGES || (chunk.length > 0 && bytes + size > SEND_BATCH_BYTES)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(item);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);

  await Promise.all(
    chunks.map(async (part) => {
      try {
        // v8, as ingest sends: the frame stays bytes. Copies of one note go back as one message.
        await queue.sendBatch(
          part.map((item) => ({ body: (item.messages[0] as Message<unknown>).body as NoteMessage, contentType: "v8" })),
        );
        for (const item of part) for (const message of item.messages) message.ack();
      } catch (error) {
        console.error(
          `deliver: could not defer ${part.length} note(s) to the next invocation (${error instanceof Error ? error.name : typeof error}); retried in ${DEFER_FAILED_RETRY_SECONDS} s`,
        );
        for (const item of part) {
          for (const message of item.messages) message.retry({ delaySeconds: DEFER_FAILED_RETRY_SECONDS });
        }
      }
    }),
  );
}
