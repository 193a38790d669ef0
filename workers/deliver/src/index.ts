/**
 * The deliver Worker: consumes the `notes` queue (send each batch through the mail provider,
 * retry or dead-letter, write status to KV) and the `notes-dlq` queue (file what ran out of
 * retries in the dead-letter store); and over HTTP the ops API (/ops) and the provider webhooks
 * (/webhooks), src/http/app.ts. README.md explains the outcomes, retries and idempotency.
 */

import type { NoteMessage } from "@notepipe/pipeline";
import { deadLetterNotes } from "./dead-letter-notes.ts";
import { deliverNotes } from "./deliver-notes.ts";
import { http } from "./http/app.ts";

/**
 * The queue names of wrangler.deliver.toml's `[[queues.consumers]]`. Not exported: workerd takes
 * every named export of the main module for an entrypoint and refuses to start on a string.
 */
const NOTES_QUEUE = "notes";
const DEAD_LETTER_QUEUE = "notes-dlq";

export default {
  fetch: http.fetch,
  async queue(batch, env) {
    switch (batch.queue) {
      case NOTES_QUEUE:
        return deliverNotes(batch, env);
      case DEAD_LETTER_QUEUE:
        return deadLetterNotes(batch, env);
      default:
        // A consumer added in wrangler.deliver.toml without a handler here: keep its messages.
        console.error(`deliver: no handler for queue ${batch.queue}; its messages are retried`);
        batch.retryAll();
    }
  },
} satisfies ExportedHandler<Env, NoteMessage>;
