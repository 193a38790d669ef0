/**
 * POST /ops/dead-letters/replay with `{"ids": […]}`, `{"all": true}` or `{"since": "<ISO>",
 * "reason": "<code>"}` (either or both), and `"includePossiblySent": true` to replay those too:
 * puts dead notes back on the queue their frame's size belongs on (`notes` or `notes-large`).
 *
 *   1. The ledger marks the entries that may go with this replay's token (their `replayedAt`) and
 *      names why each other id stays: `not_found`, `already_sent` (sent or delivered after all:
 *      never again), `already_queued`, `undecodable` (a replay could only fail again), `possibly_sent`.
 *   2. `sendBatch` (≤ 100 messages and ≤ 256 KB a call, Queues' limits), `replayedAt` set: only a
 *      message carrying the token may send a failed note again, under a new Idempotency-Key.
 *   3. Once a send resolved, the ledger makes those notes `queued` and drops their entries; their
 *      records go to KV. A failed send leaves its entries as they were, counted `failed`.
 * Replaying twice sends nothing twice: the second finds no entry, or a note queued or sent.
 *
 * A possibly-sent entry (the provider may already have taken it) is skipped by every form, `ids`
 * included, unless the body says `"includePossiblySent": true`: one rule however the entries were
 * picked, and a second email only when an operator chose to risk it.
 *
 * One request handles at most 200 entries (`DEAD_LETTERS_PER_CALL`): the answer says where to go
 * on, `remaining` ids or a `cursor` (the last id handled) for the other forms.
 */

import {
  DELIVERY_ERROR_CODES,
  type NoteMessage,
  notesQueueFor,
  type ReplayAnswer,
  type ReplayRequest,
  type ReplayResult,
} from "@notepipe/pipeline";
import type { Context } from "hono";
import * as z from "zod/mini";
import { readJson } from "../http/body.ts";
import { NO_STORE } from "../http/errors.ts";
import type { ReplayStart } from "../ledger/types.ts";
import type { OpsEnv } from "./app.ts";
import { deadLetterId } from "./dead-letter-id.ts";
import { beginReplay, DEAD_LETTERS_PER_CALL, finishReplay, listDeadLetters } from "./dead-letters.ts";

export const MAX_REPLAY_IDS = 1000;
export const MAX_REPLAY_PER_REQUEST = DEAD_LETTERS_PER_CALL;
/** Queues' sendBatch limits: 100 messages and 256 KB in all; a frame is at most 64 KiB. */
const SEND_BATCH_MESSAGES = 100;
const SEND_BATCH_BYTES = 240_000;
/** Room for a message's v8 envelope and its `acceptedAt`/`replayedAt` beside the frame. */
const MESSAGE_OVERHEAD_BYTES = 200;
/**
 * Replayed messages wait this long in the queue, so that the `queued` record (written once the
 * send resolved) reaches KV before deliver can write `sent`: the older record landing last would
 * leave KV saying `queued` while the ledger believes it says `sent`.
 */
export const REPLAY_DELAY_SECONDS = 2;
/**
 * Frame bytes one replay request puts on the queue at most (16 frames of 64 KiB, 200 of 5 KiB):
 * every byte is serialised into the queue sends, on the request's own CPU (10 ms on the Free plan).
 * The rest is answered as remaining, or the cursor stops before it.
 */
export const REPLAY_FRAME_BUDGET_BYTES = 1024 * 1024;

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
    cursor: z.optional(deadLetterId),
    includePossiblySent: z.optional(z.boolean()),
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

type Entry = ReplayStart["replay"][number];

export async function replayDeadLetters(c: Context<OpsEnv>): Promise<Response> {
  const body = await readJson(c, replayBody, 128 * 1024);
  return c.json(await replay(c.env, body), 200, NO_STORE);
}

/**
 * One request's share of a replay, for the route above and the ops console alike: `body` is a
 * checked {@link ReplayRequest}, and the answer says where the next request goes on.
 */
export async function replay(env: Env, body: ReplayRequest): Promise<ReplayAnswer> {
  let ids: string[];
  // Where the caller goes on: the ids this request left (if any), or the listing's cursor.
  let next: Pick<ReplayAnswer, "remaining" | "cursor">;
  if (body.ids !== undefined) {
    const unique = [...new Set(body.ids)];
    ids = unique.slice(0, MAX_REPLAY_PER_REQUEST);
    next = unique.length > MAX_REPLAY_PER_REQUEST ? { remaining: unique.slice(MAX_REPLAY_PER_REQUEST) } : {};
  } else {
    const filter = { reason: body.reason, since: body.since === undefined ? undefined : Date.parse(body.since) };
    const page = await listDeadLetters(env, filter, body.cursor ?? null, MAX_REPLAY_PER_REQUEST);
    ids = page.deadLetters.map((letter) => letter.id);
    next = { cursor: page.cursor };
  }

  const token = Date.now();
  const start = await beginReplay(env, ids, token, body.includePossiblySent === true, REPLAY_FRAME_BUDGET_BYTES);
  if (start.unstarted.length > 0) {
    // The ids past the byte budget were not looked at: the caller goes on from the first of them.
    ids = ids.slice(0, ids.length - start.unstarted.length);
    next =
      body.ids !== undefined
        ? { remaining: [...start.unstarted, ...(next.remaining ?? [])] }
        : { cursor: ids.at(-1) ?? null };
  }
  const results = new Map<string, ReplayResult>();
  for (const { id, reason } of start.skipped) results.set(id, { id, outcome: "skipped", reason });

  const queued: string[] = [];
  // Each note back on the queue its size belongs on, as ingest queued it.
  const byQueue = new Map<Queue, Entry[]>();
  for (const entry of start.replay) {
    const queue = notesQueueFor(env, entry.frame.length);
    const entries = byQueue.get(queue);
    if (entries === undefined) byQueue.set(queue, [entry]);
    else entries.push(entry);
  }
  const sends = [...byQueue].flatMap(([queue, entries]) => [...sendChunks(entries)].map((chunk) => ({ queue, chunk })));
  for (const { queue, chunk } of sends) {
    const messages = chunk.map((entry) => {
      const message: NoteMessage = { frame: entry.frame, acceptedAt: entry.acceptedAt ?? token, replayedAt: token };
      // v8, as ingest sends: JSON would turn the frame's bytes into {"0": …, "1": …}.
      return { body: message, contentType: "v8" as const };
    });
    try {
      await queue.sendBatch(messages, { delaySeconds: REPLAY_DELAY_SECONDS });
    } catch (error) {
      console.error(`deliver: replay sendBatch of ${chunk.length} failed: ${(error as Error).message}`);
      for (const { id } of chunk) results.set(id, { id, outcome: "failed", reason: "queue_unavailable" });
      continue;
    }
    for (const { id } of chunk) {
      results.set(id, { id, outcome: "replayed" });
      queued.push(id);
    }
  }
  if (queued.length > 0) await finishReplay(env, queued, token);

  // The ledger answers for every id it was given; `not_found` only guards the shape of the answer.
  const ordered = ids.map((id): ReplayResult => results.get(id) ?? { id, outcome: "skipped", reason: "not_found" });
  const count = (outcome: ReplayResult["outcome"]) => ordered.filter((result) => result.outcome === outcome).length;
  const answer: ReplayAnswer = {
    replayed: count("replayed"),
    skipped: count("skipped"),
    failed: count("failed"),
    skippedPossiblySent: ordered.filter((result) => result.outcome === "skipped" && result.reason === "possibly_sent")
      .length,
    results: ordered,
    ...next,
  };
  return answer;
}

/** Entries grouped for sendBatch: at most 100 messages and about 240 KB per call. */
function* sendChunks(entries: readonly Entry[]): Generator<Entry[]> {
  let chunk: Entry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entry.frame.length + MESSAGE_OVERHEAD_BYTES;
    if (chunk.length === SEND_BATCH_MESSAGES || (chunk.length > 0 && bytes + size > SEND_BATCH_BYTES)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(entry);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
