/**
 * POST /ops/dead-letters/replay with `{"ids": […]}`, `{"all": true}` or `{"since": "<ISO>",
 * "reason": "<code>"}` (either or both): puts dead notes back on the `notes` queue.
 *
 * Per entry, in this order:
 *   1. skip it if the note is already `sent` or later (its entry is stale: deleted), already back in
 *      the queue (`queued`, `retrying`), or its frame does not decode (a replay would only fail again);
 *   2. send it with `sendBatch` (≤ 100 messages and ≤ 256 KB a call, Queues' limits), `replayedAt`
 *      set, so that deliver sends it under a new Idempotency-Key even though its record says failed;
 *   3. only once that send resolved: state `queued`, then delete the entry. A failed send leaves
 *      both as they were, counted `failed`, for the next replay.
 * Replaying twice sends nothing twice: the second finds no entry, or a note already queued or sent.
 *
 * One request handles at most {@link MAX_REPLAY_PER_REQUEST} entries: a Worker invocation may make
 * 1,000 KV operations (https://developers.cloudflare.com/kv/platform/limits/) and each replayed
 * note costs two (its record, its entry). The answer says where to go on: `remaining` ids, or a
 * `cursor` for the filtered forms.
 */

import { decodeFrame, isNoteUuid } from "@notepipe/frame";
import {
  DELIVERY_ERROR_CODES,
  type DeadLetter,
  deadLetterKey,
  type NoteMessage,
  SENT_STATES,
  type StatusRecord,
} from "@notepipe/pipeline";
import type { Context } from "hono";
import * as z from "zod/mini";
import { readJson } from "../http/body.ts";
import { NO_STORE } from "../http/errors.ts";
import { putRecord, readRecords } from "../status-store.ts";
import type { OpsEnv } from "./app.ts";
import { type DeadLetterFilter, deadLetterPage, readDeadLetters } from "./dead-letter-pages.ts";

export const MAX_REPLAY_IDS = 1000;
export const MAX_REPLAY_PER_REQUEST = 300;
/** Queues' sendBatch limits: 100 messages and 256 KB in all; a frame is at most 64 KiB. */
const SEND_BATCH_MESSAGES = 100;
const SEND_BATCH_BYTES = 240_000;
/** Room for a message's v8 envelope and its `acceptedAt`/`replayedAt` beside the frame. */
const MESSAGE_OVERHEAD_BYTES = 200;
/**
 * Replayed messages wait this long in the queue, so that the `queued` write (made once the send
 * resolved) lands before deliver can write `sent`: KV takes one write per second per key, and a
 * state must never move back.
 */
export const REPLAY_DELAY_SECONDS = 2;
const KV_WRITE_INTERVAL_MS = 1000;

/** A note id, or `msg-<queue message id>` for a body that had none (see `DeadLetter.id`). */
export const deadLetterId = z
  .string()
  .check(
    z.regex(
      /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|msg-[\w-]{1,128})$/,
      "not a dead-letter id (a lowercase note UUID or msg-<queue message id>)",
    ),
  );

const replayBody = z
  .strictObject({
    ids: z.optional(
      z
        .array(deadLetterId)
        .check(z.minLength(1), z.maxLength(MAX_REPLAY_IDS, `at most ${MAX_REPLAY_IDS} ids per request`)),
    ),
    all: z.optional(z.literal(true)),
    since: z.optional(z.iso.datetime({ offset: true })),
    reason: z.optional(z.enum(DELIVERY_ERROR_CODES)),
    cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(1024))),
  })
  .check(
    z.superRefine((body, ctx) => {
      const filtered = body.since !== undefined || body.reason !== undefined;
      const forms = [body.ids !== undefined, body.all === true, filtered].filter(Boolean).length;
      if (forms !== 1) {
        ctx.addIssue({
          code: "custom",
          message: 'give exactly one of {"ids": […]}, {"all": true} or {"since": "<ISO time>", "reason": "<code>"}',
        });
      } else if (body.cursor !== undefined && body.ids !== undefined) {
        ctx.addIssue({ code: "custom", path: ["cursor"], message: "goes with all, since or reason, not with ids" });
      }
    }),
  );

export type ReplaySkip = "not_found" | "already_sent" | "already_queued" | "undecodable";
export type ReplayResult =
  | { id: string; outcome: "replayed" }
  | { id: string; outcome: "skipped"; reason: ReplaySkip }
  | { id: string; outcome: "failed"; reason: "queue_unavailable" };

interface Candidate {
  id: string;
  letter: DeadLetter;
  record: StatusRecord | undefined;
  frame: Uint8Array;
}

export async function replayDeadLetters(c: Context<OpsEnv>): Promise<Response> {
  const body = await readJson(c, replayBody, 128 * 1024);
  const kv = c.env.STATUS;

  let ids: string[];
  // Where the caller goes on: the ids this request left (if any), or the listing's cursor.
  let next: { remaining?: string[] } | { cursor: string | null };
  if (body.ids !== undefined) {
    const unique = [...new Set(body.ids)];
    ids = unique.slice(0, MAX_REPLAY_PER_REQUEST);
    next = unique.length > MAX_REPLAY_PER_REQUEST ? { remaining: unique.slice(MAX_REPLAY_PER_REQUEST) } : {};
  } else {
    const filter: DeadLetterFilter = {
      reason: body.reason,
      since: body.since === undefined ? undefined : Date.parse(body.since),
    };
    const page = await deadLetterPage(kv, { limit: MAX_REPLAY_PER_REQUEST, cursor: body.cursor ?? null, filter });
    ids = page.ids;
    next = { cursor: page.cursor };
  }

  const [letters, records] = await Promise.all([
    readDeadLetters(kv, ids),
    readRecords(
      kv,
      ids.filter((id) => isNoteUuid(id)),
    ),
  ]);
  const results = new Map<string, ReplayResult>();
  const candidates: Candidate[] = [];
  const cleanups: Promise<unknown>[] = [];
  for (const id of ids) {
    const letter = letters.get(id);
    const record = records.get(id);
    const frame = letter === undefined ? null : decodableFrame(letter.frame);
    if (letter === undefined) {
      results.set(id, { id, outcome: "skipped", reason: "not_found" });
    } else if (record !== undefined && SENT_STATES.has(record.state)) {
      // Sent by another copy, or delivered as a webhook says: the entry has nothing left to replay.
      results.set(id, { id, outcome: "skipped", reason: "already_sent" });
      cleanups.push(deleteEntry(kv, id));
    } else if (record?.state === "queued" || record?.state === "retrying") {
      results.set(id, { id, outcome: "skipped", reason: "already_queued" });
    } else if (frame === null) {
      results.set(id, { id, outcome: "skipped", reason: "undecodable" });
    } else {
      candidates.push({ id, letter, record, frame });
    }
  }

  // The `queued` writes below must come a second after the record's last write (the DLQ
  // consumer's `dead`, moments ago in a drill): wait out the youngest, at most a second.
  const now = Date.now();
  const youngest = Math.max(0, ...candidates.map((item) => Date.parse(item.record?.updatedAt ?? "") || 0));
  if (now - youngest < KV_WRITE_INTERVAL_MS) await scheduler.wait(KV_WRITE_INTERVAL_MS - (now - youngest));

  const replayedAt = Date.now();
  const writes: Promise<unknown>[] = [];
  for (const chunk of sendChunks(candidates)) {
    const messages = chunk.map((item) => {
      const body: NoteMessage = { frame: item.frame, acceptedAt: item.letter.acceptedAt ?? replayedAt, replayedAt };
      // v8, as ingest sends: JSON would turn the frame's bytes into {"0": …, "1": …}.
      return { body, contentType: "v8" as const };
    });
    try {
      await c.env.NOTES_QUEUE.sendBatch(messages, { delaySeconds: REPLAY_DELAY_SECONDS });
    } catch (error) {
      console.error(`deliver: replay sendBatch of ${chunk.length} failed: ${(error as Error).message}`);
      for (const item of chunk) results.set(item.id, { id: item.id, outcome: "failed", reason: "queue_unavailable" });
      continue;
    }
    for (const item of chunk) {
      results.set(item.id, { id: item.id, outcome: "replayed" });
      writes.push(requeue(kv, item, replayedAt));
    }
  }
  await Promise.all([...writes, ...cleanups]);

  const ordered = ids.map((id) => results.get(id) as ReplayResult);
  const count = (outcome: ReplayResult["outcome"]) => ordered.filter((result) => result.outcome === outcome).length;
  return c.json(
    {
      replayed: count("replayed"),
      skipped: count("skipped"),
      failed: count("failed"),
      results: ordered,
      ...next,
    },
    200,
    NO_STORE,
  );
}

/** The stored frame's bytes if they decode as a frame; null if a replay could only fail again. */
function decodableFrame(frameBase64: string): Uint8Array | null {
  if (frameBase64 === "") return null;
  try {
    const bytes = Uint8Array.fromBase64(frameBase64);
    return decodeFrame(bytes).ok ? bytes : null;
  } catch {
    return null;
  }
}

/** Candidates grouped for sendBatch: at most 100 messages and about 240 KB per call. */
function* sendChunks(candidates: Candidate[]): Generator<Candidate[]> {
  let chunk: Candidate[] = [];
  let bytes = 0;
  for (const item of candidates) {
    const size = item.frame.length + MESSAGE_OVERHEAD_BYTES;
    if (chunk.length === SEND_BATCH_MESSAGES || (chunk.length > 0 && bytes + size > SEND_BATCH_BYTES)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(item);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * After the send resolved: the note's state back to `queued` (a `msg-…` entry has no record), then
 * the entry goes. If the write fails the entry stays, and a second replay finds the note queued or
 * sent and skips it.
 */
async function requeue(kv: KVNamespace, item: Candidate, replayedAt: number): Promise<void> {
  if (isNoteUuid(item.id)) {
    const written = await putRecord(kv, {
      id: item.id,
      state: "queued",
      attempts: item.record?.attempts ?? item.letter.attempts,
      updatedAt: new Date(replayedAt).toISOString(),
    });
    if (!written) return;
  }
  await deleteEntry(kv, item.id);
}

async function deleteEntry(kv: KVNamespace, id: string): Promise<void> {
  try {
    await kv.delete(deadLetterKey(id));
  } catch (error) {
    console.error(`deliver: could not delete dead letter ${id}: ${(error as Error).message}`);
  }
}
