/**
 * Dead letters for ops: listed, replayed, discarded and counted in the delivery ledger, which
 * holds them (src/ledger), with each note's new record projected to KV. The ops routes in this folder
 * call this module and touch neither the ledger nor KV themselves.
 */

import type { DeliveryErrorCode } from "@notepipe/pipeline";
import { callLedger, type Ledger } from "../ledger/client.ts";
import type { Overview } from "../ledger/overview-types.ts";
import type { NoteTimeline } from "../ledger/timeline.ts";
import type { DeadLetterPage, DiscardResult, LedgerStats, ReplayStart } from "../ledger/types.ts";
import { projectToKv } from "../status/projection.ts";

const WHO = "deliver (ops)";

/**
 * At most this many dead letters per ledger call. Each travels with its frame (up to 64 KiB,
 * `MAX_FRAME_BYTES`) and an RPC answer is at most 32 MiB (workerd refuses more): 200 frames stay
 * under 18 MB even as base64.
 */
export const DEAD_LETTERS_PER_CALL = 200;

/**
 * The ledger did not answer (ledger/client.ts says when it was asked again): each of its calls is
 * one transaction, so nothing changed and asking again is safe.
 */
export class LedgerUnavailableError extends Error {
  constructor(cause: unknown) {
    super("The delivery ledger did not answer.", { cause });
    this.name = "LedgerUnavailableError";
  }
}

async function ask<T>(call: (ledger: Ledger) => Promise<T>, env: Env): Promise<T> {
  try {
    return await callLedger(env, call);
  } catch (error) {
    throw new LedgerUnavailableError(error);
  }
}

export interface DeadLetterFilter {
  reason?: DeliveryErrorCode | undefined;
  /** ms since the epoch: only entries whose last failure is at or after it. */
  since?: number | undefined;
}

/**
 * One page of dead letters in id order, starting after the id `after`.
 *
 * @example
 * const page = await listDeadLetters(env, { reason: "rejected" }, null, 100);
 */
export function listDeadLetters(
  env: Env,
  filter: DeadLetterFilter,
  after: string | null,
  limit: number,
): Promise<DeadLetterPage> {
  const query = { ...filter, limit: Math.min(limit, DEAD_LETTERS_PER_CALL), ...(after === null ? {} : { after }) };
  return ask(async (ledger): Promise<DeadLetterPage> => await ledger.listDeadLetters(query), env);
}

/**
 * A replay's first step: marks the entries of `ids` that may go back on the queue with `token`
 * (the messages' `replayedAt`) and answers them with their frames, and why each other id is left.
 */
export function beginReplay(
  env: Env,
  ids: readonly string[],
  token: number,
  includePossiblySent: boolean,
  maxFrameBytes: number,
): Promise<ReplayStart> {
  return ask(
    async (ledger): Promise<ReplayStart> =>
      await ledger.beginReplay([...ids], token, includePossiblySent, maxFrameBytes),
    env,
  );
}

/**
 * A replay's last step, once the messages of `ids` are on the queue: the notes are `queued` and
 * their entries gone. Never throws: the messages are queued either way, and the consumer sends a
 * message that carries the token even if the ledger never heard that the replay finished (KV then
 * shows the old record until the note is sent).
 */
export async function finishReplay(env: Env, ids: readonly string[], token: number): Promise<void> {
  try {
    const records = await callLedger(env, async (ledger) => await ledger.finishReplay([...ids], token));
    await projectToKv(env, records, WHO);
  } catch (error) {
    const name = error instanceof Error ? error.name : typeof error;
    console.error(`${WHO}: replayed ${ids.length} note(s) but could not mark them queued (${name}).`);
  }
}

/**
 * An operator gives up on a dead letter: the note stays `failed` (reason `discarded`) and is never
 * sent. The new record goes to KV before this answers; if KV refuses it, the repair writes it.
 */
export async function discardDeadLetter(env: Env, id: string): Promise<DiscardResult> {
  const result = await ask(async (ledger): Promise<DiscardResult> => await ledger.discard(id), env);
  if (result.kind === "discarded" && result.record !== null) {
    await projectToKv(env, [{ record: result.record, version: result.version }], WHO);
  }
  return result;
}

/** The ops console's overview: the ledger's series, latency, answers, backlog, quotas and alerts in one call. */
export function readOverview(env: Env): Promise<Overview> {
  return ask(async (ledger): Promise<Overview> => await ledger.overview(), env);
}

/** One note's steps and state for the ops console; null if the ledger does not know it. */
export function readTimeline(env: Env, id: string): Promise<NoteTimeline | null> {
  return ask(async (ledger): Promise<NoteTimeline | null> => await ledger.timeline(id), env);
}

/** Exact counts: one SQL count per figure in the ledger, no KV listing. */
export function readStats(env: Env): Promise<LedgerStats> {
  return ask(async (ledger): Promise<LedgerStats> => await ledger.stats(), env);
}
