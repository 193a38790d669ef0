/**
 * The queue names of wrangler.deliver.toml's `[[queues.consumers]]`, here and not in index.ts:
 * workerd takes every named export of the main module for an entrypoint and refuses a string.
 */

/** Frames up to SMALL_FRAME_MAX_BYTES (packages/pipeline), in batches of 100. */
export const NOTES_QUEUE = "notes";
/** Larger frames, in batches of 8: each batch is one invocation's byte budget. */
export const NOTES_LARGE_QUEUE = "notes-large";
export const DEAD_LETTER_QUEUE = "notes-dlq";
/** Enrollment-code emails, in batches of 10: their own consumer, never a note's batch (code-emails.ts). */
export const CODES_QUEUE = "codes";

/** The producer of the notes queue a consumer batch came from: where its deferred notes go back. */
export function producerOf(env: Env, queue: string): Queue {
  return queue === NOTES_LARGE_QUEUE ? env.NOTES_LARGE_QUEUE : env.NOTES_QUEUE;
}
