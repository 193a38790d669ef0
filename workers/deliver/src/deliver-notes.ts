/**
 * The `notes` consumer. For one batch:
 *   1. decode every message (an undecodable one is dead-lettered and acked, never retried);
 *   2. read every note's status record in one bulk KV get, and ack without sending a note that
 *      is already sent (or finished, unless ops replays it);
 *   3. group the rest by Idempotency-Key: notes of an earlier request that went unanswered go
 *      again under that request's key, the others together under a key of their own. Usually
 *      that is one group, so one upstream request per batch;
 *   4. send each group, classify each email's outcome, and ack or retry each message, with at
 *      most one status write per note (README.md: "Outcomes", "Never twice", "KV writes").
 */

import type { DeliveryErrorCode, StatusRecord } from "@notepipe/pipeline";
import { SENT_STATES } from "@notepipe/pipeline";
import { pipelineDelaySeconds, type RetrySettings, retryDelaySeconds } from "./backoff.ts";
import { type DeliverConfig, readConfig } from "./config.ts";
import { type DecodedMessage, decodeMessage } from "./decode-message.ts";
import {
  classOf,
  DELIVERY_ERRORS,
  describe,
  type FailedOutcome,
  failed,
  isAmbiguous,
  type SendOutcome,
} from "./outcomes.ts";
import { type OutgoingEmail, sendEmails } from "./providers/provider.ts";
import { requestKeyFor } from "./request-key.ts";
import { putDeadLetter, putKeyRelease, putRecord, readKeyReleases, readRecords } from "./status-store.ts";

/**
 * A second copy of a note within one batch waits this long, for the first copy's outcome to be
 * readable: KV can take up to 60 s to show a write in another location.
 */
const DUPLICATE_RETRY_SECONDS = 60;
/**
 * A note is sent again under an unanswered request's key only while the provider still holds
 * it: Resend keeps keys 24 hours; an hour less leaves room for clock skew and slow requests.
 */
const KEY_REUSE_LIMIT_MS = 23 * 60 * 60 * 1000;
/** wrangler.deliver.toml's values, for when its vars cannot be read. */
const FALLBACK_RETRY: RetrySettings = { baseSeconds: 30, maxSeconds: 43_200, pipelineSeconds: 3600 };

type Decoded = Extract<DecodedMessage, { ok: true }>;

interface Pending {
  message: Message<unknown>;
  note: Decoded;
  record: StatusRecord | undefined;
}

interface SendGroup {
  key: string;
  /** The key of an earlier request whose answer never came; `size` notes went out under it. */
  prior: boolean;
  size: number;
  /** When the key was first sent (ms). */
  keyAt: number;
  /** Sorted by note id, so that the same notes always make the same body. */
  notes: Pending[];
}

interface Run {
  kv: KVNamespace;
  now: number;
  retry: RetrySettings;
  /** Whether the provider dedupes on Idempotency-Key, so that a request key is worth keeping. */
  idempotent: boolean;
  writes: Promise<boolean>[];
  /** Pipeline-level failures of this batch, logged once each. */
  pipeline: Map<DeliveryErrorCode, { outcome: FailedOutcome; notes: number; delay: number }>;
}

export async function deliverNotes(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const now = Date.now();
  const decoded = batch.messages.map(decodeMessage);
  const noteIds = [...new Set(decoded.filter((note) => note.ok || note.isNoteId).map((note) => note.id))];
  // If this throws, nothing has been sent: Queues retries the whole batch after `retry_delay`.
  const records = await readRecords(env.STATUS, noteIds);

  const read = readConfig(env);
  const run: Run = {
    kv: env.STATUS,
    now,
    retry: read.ok ? read.config.retry : FALLBACK_RETRY,
    idempotent: read.ok && read.config.provider.idempotent,
    writes: [],
    pipeline: new Map(),
  };
  const pending: Pending[] = [];
  const seen = new Set<string>();
  for (const [i, message] of batch.messages.entries()) {
    const note = decoded[i] as DecodedMessage;
    const record = records.get(note.id);
    if (record !== undefined && SENT_STATES.has(record.state)) {
      message.ack();
    } else if (seen.has(note.id)) {
      message.retry({ delaySeconds: DUPLICATE_RETRY_SECONDS });
    } else if ((record?.state === "failed" || record?.state === "dead") && note.replayedAt === undefined) {
      // A redelivery of a message already settled; an ops replay carries replayedAt.
      seen.add(note.id);
      message.ack();
    } else {
      seen.add(note.id);
      if (note.ok) pending.push({ message, note, record });
      else settleUndecodable(run, message, note);
    }
  }

  if (pending.length > 0) {
    if (read.ok) await sendPending(run, pending, read.config);
    else settleAll(run, pending, failed("config_invalid", read.problem));
  }
  logPipelineFailures(run);
  await Promise.all(run.writes);
}

async function sendPending(run: Run, pending: Pending[], { provider, send }: DeliverConfig): Promise<void> {
  const { groups, expired } = await planGroups(run, pending);
  settleAll(run, expired, failed("possibly_sent", "Its earlier send went unanswered and the provider's key expired."));
  // After a rate limit or a pipeline-level failure, the batch's other groups are not sent now.
  let halt: FailedOutcome | undefined;
  for (const group of groups) {
    const outcomes: SendOutcome[] = halt
      ? group.notes.map(() => halt as FailedOutcome)
      : await sendEmails(provider, send, group.notes.map(toEmail), group.key);
    // Records say when the provider answered, not when the batch began: a send paced to the
    // provider's rate limit (providers/pace.ts) may have waited for its window.
    run.now = Date.now();
    halt ??= outcomes.find(
      (outcome): outcome is FailedOutcome =>
        outcome.kind === "failed" && (outcome.code === "rate_limited" || classOf(outcome.code) === "pipeline"),
    );
    settleGroup(run, group, outcomes);
  }
}

/**
 * Notes whose record holds the key of an unanswered request go out again under that key, as many
 * of that request's notes as this batch holds; a key found released, or about to expire at the
 * provider, no longer applies (README.md, "Never twice").
 */
async function planGroups(run: Run, pending: Pending[]): Promise<{ groups: SendGroup[]; expired: Pending[] }> {
  const fresh: Pending[] = [];
  const byKey = new Map<string, Pending[]>();
  for (const item of pending) {
    const key = run.idempotent && item.record?.state === "retrying" ? item.record.requestKey : undefined;
    if (key === undefined) fresh.push(item);
    else byKey.set(key, [...(byKey.get(key) ?? []), item]);
  }
  // If this throws, nothing has been sent: Queues retries the whole batch after `retry_delay`.
  const released = byKey.size > 0 ? await readKeyReleases(run.kv, [...byKey.keys()]) : new Set<string>();

  const groups: SendGroup[] = [];
  const expired: Pending[] = [];
  for (const [key, notes] of byKey) {
    if (released.has(key)) {
      fresh.push(...notes);
      continue;
    }
    const first = (notes[0] as Pending).record as StatusRecord;
    const keyAt = Date.parse(first.requestKeyAt ?? first.updatedAt);
    if (!(run.now - keyAt < KEY_REUSE_LIMIT_MS)) {
      expired.push(...notes);
      continue;
    }
    const size = Math.max(notes.length, ...notes.map((item) => item.record?.requestSize ?? 0));
    groups.push({ key, prior: true, size, keyAt, notes: sortById(notes) });
  }
  if (fresh.length > 0) {
    const key = run.idempotent ? await requestKeyFor(fresh.map((item) => item.note)) : "";
    groups.push({ key, prior: false, size: fresh.length, keyAt: run.now, notes: sortById(fresh) });
  }
  return { groups, expired };
}

function settleGroup(run: Run, group: SendGroup, outcomes: SendOutcome[]): void {
  // Part of an unanswered request went out under its key and was answered: so the provider never
  // took the first request, and its other notes must not be held to the key any more.
  const answered = outcomes.some(
    (outcome) => outcome.kind === "accepted" || (outcome.kind === "failed" && outcome.code === "rejected"),
  );
  if (group.prior && group.notes.length < group.size && answered) {
    run.writes.push(putKeyRelease(run.kv, group.key, run.now));
  }
  // One delay for the group's transient failures, so that its notes come back together.
  const attempts = Math.max(...group.notes.map((item) => item.message.attempts));
  const retryAfter = Math.max(
    0,
    ...outcomes.map((outcome) => (outcome.kind === "failed" ? (outcome.retryAfterSeconds ?? 0) : 0)),
  );
  let transientDelay: number | undefined;
  group.notes.forEach((item, i) => {
    const outcome = outcomes[i] as SendOutcome;
    if (outcome.kind === "accepted") {
      item.message.ack();
      run.writes.push(
        putRecord(run.kv, {
          id: item.note.id,
          state: "sent",
          attempts: item.message.attempts,
          updatedAt: iso(run.now),
          providerId: outcome.providerId,
        }),
      );
      return;
    }
    if (classOf(outcome.code) === "transient") {
      transientDelay ??= retryDelaySeconds(attempts, run.retry, retryAfter || null);
      const delay = transientDelay;
      item.message.retry({ delaySeconds: delay });
      run.writes.push(putRecord(run.kv, retryingRecord(run, item, outcome, delay, keyFields(run, group, outcome))));
      return;
    }
    settleFailure(run, item, outcome, keyFields(run, group, outcome));
  });
}

/** The request key a note keeps in its `retrying` record. */
function keyFields(run: Run, group: SendGroup, outcome: FailedOutcome): Partial<StatusRecord> {
  if (group.prior) return { requestKey: group.key, requestKeyAt: iso(group.keyAt), requestSize: group.size };
  if (run.idempotent && isAmbiguous(outcome.code)) {
    return { requestKey: group.key, requestKeyAt: iso(run.now), requestSize: group.notes.length };
  }
  return {};
}

/** Notes settled without a send: a note held to an unanswered request's key stays held to it. */
function settleAll(run: Run, items: Pending[], outcome: FailedOutcome): void {
  for (const { record, ...item } of items) {
    const key: Partial<StatusRecord> =
      record?.state === "retrying" && record.requestKey !== undefined
        ? { requestKey: record.requestKey, requestKeyAt: record.requestKeyAt, requestSize: record.requestSize }
        : {};
    settleFailure(run, { ...item, record }, outcome, key);
  }
}

/** A permanent or pipeline-level failure (a transient one is settled per group, above). */
function settleFailure(run: Run, item: Pending, outcome: FailedOutcome, key: Partial<StatusRecord>): void {
  const { message, note, record } = item;
  if (classOf(outcome.code) === "pipeline") {
    const delay = pipelineDelaySeconds(run.retry, outcome.retryAfterSeconds ?? null);
    message.retry({ delaySeconds: delay });
    const seen = run.pipeline.get(outcome.code);
    run.pipeline.set(outcome.code, { outcome, notes: (seen?.notes ?? 0) + 1, delay });
    // A pipeline-level failure lasts until someone acts, and every retry would rewrite every waiting
    // note's record: once the record says so, it is left as it is (README.md, "KV writes").
    if (record?.state === "retrying" && record.errorCode === outcome.code) return;
    run.writes.push(putRecord(run.kv, retryingRecord(run, item, outcome, delay, key)));
    return;
  }
  message.ack();
  const firstFailureAt = firstFailure(run, record);
  const error = describe(outcome);
  run.writes.push(
    putDeadLetter(run.kv, {
      id: note.id,
      frame: note.bytes.toBase64(),
      reason: outcome.code,
      message: error,
      attempts: message.attempts,
      firstFailureAt,
      lastFailureAt: iso(run.now),
      possiblySent: outcome.code === "possibly_sent",
      acceptedAt: note.acceptedAt,
      ...(note.replayedAt === undefined ? {} : { replayedAt: note.replayedAt }),
    }),
    putRecord(run.kv, {
      id: note.id,
      state: "failed",
      attempts: message.attempts,
      updatedAt: iso(run.now),
      error,
      errorCode: outcome.code,
      firstFailureAt,
    }),
  );
}

function settleUndecodable(run: Run, message: Message<unknown>, note: Exclude<DecodedMessage, { ok: true }>): void {
  message.ack();
  const at = iso(run.now);
  const error = `${DELIVERY_ERRORS.undecodable.sentence} ${note.problem}`;
  run.writes.push(
    putDeadLetter(run.kv, {
      id: note.id,
      frame: note.bytes?.toBase64() ?? "",
      reason: "undecodable",
      message: error,
      attempts: message.attempts,
      firstFailureAt: at,
      lastFailureAt: at,
      possiblySent: false,
      acceptedAt: note.acceptedAt,
      ...(note.replayedAt === undefined ? {} : { replayedAt: note.replayedAt }),
    }),
  );
  if (note.isNoteId) {
    run.writes.push(
      putRecord(run.kv, {
        id: note.id,
        state: "failed",
        attempts: message.attempts,
        updatedAt: at,
        error,
        errorCode: "undecodable",
        firstFailureAt: at,
      }),
    );
  }
}

function retryingRecord(
  run: Run,
  item: Pending,
  outcome: FailedOutcome,
  delaySeconds: number,
  key: Partial<StatusRecord>,
): StatusRecord {
  return {
    id: item.note.id,
    state: "retrying",
    attempts: item.message.attempts,
    updatedAt: iso(run.now),
    nextAttemptAt: iso(run.now + delaySeconds * 1000),
    error: describe(outcome),
    errorCode: outcome.code,
    firstFailureAt: firstFailure(run, item.record),
    ...key,
  };
}

/** A note still retrying keeps the time its troubles began; anything else starts them now. */
function firstFailure(run: Run, record: StatusRecord | undefined): string {
  if (record?.state === "retrying") return record.firstFailureAt ?? record.updatedAt;
  return iso(run.now);
}

/** Loud, once per cause and batch: these wait for a person. Never the key, never an address. */
function logPipelineFailures(run: Run): void {
  for (const [code, { outcome, notes, delay }] of run.pipeline) {
    console.error(
      `deliver: PIPELINE FAILURE ${code}: ${describe(outcome)} ${notes} note(s) wait ${delay} s and are not dead-lettered; fix the cause (workers/deliver/README.md, "Outcomes").`,
    );
  }
}

function toEmail(item: Pending): OutgoingEmail {
  const { frame } = item.note;
  return { noteId: item.note.id, recipient: frame.recipient, nonce: frame.nonce, ciphertext: frame.ciphertext };
}

function sortById(items: Pending[]): Pending[] {
  return items.sort((a, b) => (a.note.id < b.note.id ? -1 : a.note.id > b.note.id ? 1 : 0));
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
