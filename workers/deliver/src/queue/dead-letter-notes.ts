/**
 * The `notes-dlq` consumer. Queues moves a message here once its `max_retries` ran out; this files
 * it in the delivery ledger as a dead letter (one call per batch) and projects the note's `dead`
 * state to KV. Why it failed comes from the ledger's last record of the note.
 *
 * This queue has no dead-letter queue of its own, so nothing here may throw or run out: a ledger
 * that cannot be reached retries each message on the outage backoff, and a message near the end
 * of its retries is put back on this queue as a new message before it is acked.
 */

import type { NoteMessage } from "@notepipe/pipeline";
import { readConfig } from "../config.ts";
import { callLedger } from "../ledger/client.ts";
import type { ClaimDecision, ClaimNote, UndecodableNote } from "../ledger/types.ts";
import { projectToKv, recordsBehind } from "../status/projection.ts";
import { outageDelaySeconds } from "./backoff.ts";
import { decodeMessage } from "./decode-message.ts";

/**
 * wrangler.deliver.toml gives this queue 100 retries (101 deliveries); past this many a message
 * starts over as a new one rather than be dropped.
 */
export const DLQ_REQUEUE_AT_ATTEMPTS = 95;
/** The outage backoff, capped at an hour here: 95 deliveries outlast days of trouble before a requeue. */
const DLQ_MAX_DELAY_SECONDS = 3600;
const WHO = "deliver (notes-dlq)";

export async function deadLetterNotes(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const byId = new Map<string, Message<unknown>[]>();
  const notes: ClaimNote[] = [];
  const undecodable: UndecodableNote[] = [];
  for (const message of batch.messages) {
    const decoded = decodeMessage(message);
    const copies = byId.get(decoded.id);
    if (copies !== undefined) {
      copies.push(message);
      continue;
    }
    byId.set(decoded.id, [message]);
    const times = decoded.replayedAt === undefined ? {} : { replayedAt: decoded.replayedAt };
    // `message.attempts` counts deliveries on this queue, not sends: a note never claimed has none.
    const base = { id: decoded.id, acceptedAt: decoded.acceptedAt, attempts: 0, ...times };
    if (decoded.ok) notes.push({ ...base, frame: decoded.bytes });
    else undecodable.push({ ...base, isNoteId: decoded.isNoteId, frame: decoded.bytes, problem: decoded.problem });
  }

  // Unreadable settings: assume a provider without keys, the side that never hides a duplicate.
  const read = readConfig(env);
  const idempotent = read.ok && read.config.provider.idempotent;
  // With failover, each request's own provider says (ledger.ts, keyedAt).
  const keyless = read.ok
    ? read.config.providers.filter(({ provider }) => !provider.idempotent).map(({ provider }) => provider.name)
    : undefined;
  let decisions: Record<string, ClaimDecision>;
  try {
    decisions = await callLedger(env, (ledger) => ledger.fileDeadLetters(notes, undecodable, idempotent, keyless));
  } catch (error) {
    const name = error instanceof Error ? error.name : typeof error;
    console.error(`${WHO}: LEDGER UNAVAILABLE (${name}); ${batch.messages.length} message(s) wait to be filed.`);
    await Promise.all(batch.messages.map((message) => waitOrRequeue(env, message)));
    return;
  }

  await projectToKv(env, recordsBehind(decisions), WHO);

  for (const [id, messages] of byId) {
    const decision = decisions[id];
    for (const message of messages) {
      if (decision?.kind === "settled") message.ack();
      else message.retry({ delaySeconds: decision?.kind === "wait" ? decision.seconds : 60 });
    }
  }
}

/** Retries a message that could not be filed; near its last retry it starts over as a new message. */
async function waitOrRequeue(env: Env, message: Message<unknown>): Promise<void> {
  if (message.attempts < DLQ_REQUEUE_AT_ATTEMPTS) {
    message.retry({ delaySeconds: Math.min(DLQ_MAX_DELAY_SECONDS, outageDelaySeconds(message.attempts)) });
    return;
  }
  try {
    await env.DEAD_LETTER_QUEUE.send(message.body as NoteMessage, {
      contentType: "v8",
      delaySeconds: DLQ_MAX_DELAY_SECONDS,
    });
    message.ack();
  } catch {
    message.retry({ delaySeconds: DLQ_MAX_DELAY_SECONDS });
  }
}
