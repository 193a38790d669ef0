/**
 * The deliver Worker: consumes the `notes` queue (send each batch through the mail provider,
 * retry or dead-letter, record each note in the delivery ledger and its status in KV) and the
 * `notes-dlq` queue (file what ran out of retries as a dead letter); on a Cron Trigger, repairs the
 * KV records KV refused; and over HTTP the ops API (/ops) and the provider webhooks (/webhooks),
 * src/app.ts. README.md explains the ledger, the outcomes and the retries.
 */

import type { NoteMessage } from "@notepipe/pipeline";
import { http } from "./app.ts";
import { deadLetterNotes } from "./dead-letter-notes.ts";
import { deliverNotes } from "./deliver-notes.ts";
import { repairStatuses } from "./repair.ts";

/** The Durable Object class behind the `LEDGER` binding: workerd finds it among the main module's exports. */
export { DeliveryLedger } from "./store/ledger.ts";

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
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(repairStatuses(env));
  },
} satisfies ExportedHandler<Env, NoteMessage>;
