/**
 * The deliver Worker: consumes the `notes` and `notes-large` queues (send each batch through the
 * mail provider, retry or dead-letter, record each note in the delivery ledger and its status in
 * KV), the `codes` queue (enrollment-code emails) and the `notes-dlq` queue (file what ran out of
 * retries as a dead letter); on a Cron Trigger,
 * repairs the KV records KV refused and prunes the ledger; and over HTTP the ops API (/ops) and the
 * provider webhooks (/webhooks), src/app.ts. README.md explains the ledger, the outcomes and the
 * retries.
 */

import { isCodeMessage, type NotesQueueMessage } from "@notepipe/pipeline";
import { sendAlerts } from "./alerts/notify.ts";
import { http } from "./app.ts";
import { moveToCodesQueue, sendCodeEmails } from "./queue/code-emails.ts";
import { deadLetterNotes } from "./queue/dead-letter-notes.ts";
import { deliverNotes } from "./queue/deliver-notes.ts";
import { CODES_QUEUE, DEAD_LETTER_QUEUE, NOTES_LARGE_QUEUE, NOTES_QUEUE } from "./queue/queues.ts";
import { repairStatuses } from "./status/repair.ts";

/** The Durable Object class behind the `LEDGER` binding: workerd finds it among the main module's exports. */
export { DeliveryLedger } from "./ledger/ledger.ts";

export default {
  fetch: http.fetch,
  async queue(batch, env) {
    switch (batch.queue) {
      case NOTES_QUEUE:
      case NOTES_LARGE_QUEUE: {
        // Only an ingest older than the `codes` queue puts codes here: they move there, unsent.
        const { codes, notes } = splitByKind(batch.messages);
        await Promise.all([
          moveToCodesQueue(codes, env),
          notes.length > 0 ? deliverNotes(subBatch(batch, notes), env) : undefined,
        ]);
        return;
      }
      case CODES_QUEUE:
        await sendCodeEmails(batch.messages, env);
        return;
      case DEAD_LETTER_QUEUE: {
        // A code email is dropped long before its retries run out (code-emails.ts); one that got
        // here anyway holds a code refused by now, and a dead letter would keep its address.
        const { codes, notes } = splitByKind(batch.messages);
        for (const message of codes) {
          console.error(`deliver: code email ${message.id} dropped from the dead-letter queue`);
          message.ack();
        }
        if (notes.length > 0) await deadLetterNotes(subBatch(batch, notes), env);
        return;
      }
      default:
        // A consumer added in wrangler.deliver.toml without a handler here: keep its messages.
        console.error(`deliver: no handler for queue ${batch.queue}; its messages are retried`);
        batch.retryAll();
    }
  },
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(repairStatuses(env));
    ctx.waitUntil(sendAlerts(env));
  },
} satisfies ExportedHandler<Env, NotesQueueMessage>;

function splitByKind(messages: readonly Message<unknown>[]): { codes: Message<unknown>[]; notes: Message<unknown>[] } {
  const codes: Message<unknown>[] = [];
  const notes: Message<unknown>[] = [];
  for (const message of messages) (isCodeMessage(message.body) ? codes : notes).push(message);
  return { codes, notes };
}

/** The same batch with only `messages`: its ackAll and retryAll reach those alone. */
function subBatch<Body>(batch: MessageBatch<Body>, messages: readonly Message<Body>[]): MessageBatch<Body> {
  if (messages.length === batch.messages.length) return batch;
  return {
    queue: batch.queue,
    metadata: batch.metadata,
    messages,
    ackAll: () => {
      for (const message of messages) message.ack();
    },
    retryAll: (options) => {
      for (const message of messages) message.retry(options);
    },
  };
}
