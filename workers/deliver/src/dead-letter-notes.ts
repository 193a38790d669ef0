/**
 * The `notes-dlq` consumer. Queues moves a message here once `max_retries` ran out; this writes it
 * to the dead-letter store (`dead:<id>`) and sets the note's state to `dead`. The message body
 * carries only the frame: why the note failed comes from its `retrying` record, written at the
 * last failed attempt.
 */

import { type DeadLetter, SENT_STATES, type StatusRecord } from "@notepipe/pipeline";
import { type RetrySettings, retryDelaySeconds } from "./backoff.ts";
import { type DecodedMessage, decodeMessage } from "./decode-message.ts";
import { DELIVERY_ERRORS, isAmbiguous } from "./outcomes.ts";
import { putDeadLetter, putRecord, readRecords } from "./status-store.ts";

/**
 * This queue has no dead-letter queue: a message that runs out of retries here is lost. It only
 * retries when KV fails, backing off to an hour: 100 retries (wrangler.deliver.toml) outlast days.
 */
const KV_FAILURE_RETRY: RetrySettings = { baseSeconds: 30, maxSeconds: 3600, pipelineSeconds: 3600 };
/** KV takes one write per second per key; the last `retrying` write may be that recent. */
const KV_WRITE_INTERVAL_MS = 1000;

export async function deadLetterNotes(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const now = Date.now();
  const decoded = batch.messages.map(decodeMessage);
  const noteIds = [...new Set(decoded.filter((note) => note.ok || note.isNoteId).map((note) => note.id))];
  // If this throws, nothing was written: Queues retries the whole batch after `retry_delay`.
  const records = await readRecords(env.STATUS, noteIds);
  const seen = new Set<string>();

  await Promise.all(
    batch.messages.map(async (message, i) => {
      const note = decoded[i] as DecodedMessage;
      const record = records.get(note.id);
      // A second copy: the first one's dead letter covers it.
      if (seen.has(note.id)) return message.ack();
      seen.add(note.id);
      // Sent by another copy, or already dead-lettered (failed, dead): nothing to keep.
      if (
        record !== undefined &&
        (SENT_STATES.has(record.state) || record.state === "failed" || record.state === "dead")
      ) {
        return message.ack();
      }
      if (record !== undefined && now - Date.parse(record.updatedAt) < KV_WRITE_INTERVAL_MS) {
        return message.retry({ delaySeconds: 1 });
      }
      const letter = deadLetterOf(message, note, record, now);
      const writes = [putDeadLetter(env.STATUS, letter)];
      if (note.ok || note.isNoteId) {
        writes.push(
          putRecord(env.STATUS, {
            id: note.id,
            state: "dead",
            attempts: letter.attempts,
            updatedAt: new Date(now).toISOString(),
            error: letter.message,
            errorCode: letter.reason,
            firstFailureAt: letter.firstFailureAt,
          }),
        );
      }
      if ((await Promise.all(writes)).every(Boolean)) message.ack();
      else message.retry({ delaySeconds: retryDelaySeconds(message.attempts, KV_FAILURE_RETRY, null) });
    }),
  );
}

function deadLetterOf(
  message: Message<unknown>,
  note: DecodedMessage,
  record: StatusRecord | undefined,
  now: number,
): DeadLetter {
  const at = new Date(now).toISOString();
  const times = note.replayedAt === undefined ? {} : { replayedAt: note.replayedAt };
  const frame = note.bytes?.toBase64() ?? "";
  if (!note.ok) {
    return {
      id: note.id,
      frame,
      reason: "undecodable",
      message: `${DELIVERY_ERRORS.undecodable.sentence} ${note.problem}`,
      attempts: record?.attempts ?? message.attempts,
      firstFailureAt: record?.firstFailureAt ?? at,
      lastFailureAt: at,
      possiblySent: false,
      acceptedAt: note.acceptedAt,
      ...times,
    };
  }
  const last = record?.state === "retrying" ? record : undefined;
  const reason = last?.errorCode ?? "retries_exhausted";
  const attempts = record?.attempts ?? 0;
  return {
    id: note.id,
    frame,
    reason,
    message:
      last === undefined
        ? `${DELIVERY_ERRORS.retries_exhausted.sentence} No attempt left a record of why.`
        : `Retries ran out after ${attempts} attempt(s). The last: ${last.error ?? DELIVERY_ERRORS[reason].sentence}`,
    attempts,
    firstFailureAt: last?.firstFailureAt ?? last?.updatedAt ?? at,
    lastFailureAt: last?.updatedAt ?? at,
    // An unanswered send may have gone out: with Resend the record keeps its key until the note
    // settles; with Postmark, which has no keys, only the last error tells.
    possiblySent: last?.requestKey !== undefined || (last?.errorCode !== undefined && isAmbiguous(last.errorCode)),
    acceptedAt: note.acceptedAt,
    ...times,
  };
}
