/**
 * `POST /v1/notes/status`: what became of notes ingest accepted. `resumeOnOpen` and the outbox's
 * drain both poll through here.
 */

import {
  MAX_STATUS_IDS,
  type NoteStatus,
  type NoteStatusList,
  type NoteStatusQuery,
  STATUS_TTL_SECONDS,
} from "@notepipe/pipeline";
import type { ClientNoteState, IngestConnection } from "./config.ts";
import { NotepipeError } from "./errors.ts";
import { request } from "./request.ts";

/** Ids per `POST /v1/notes/status`: as many as ingest takes in one. */
export const STATUS_BATCH_SIZE = MAX_STATUS_IDS;
/** `unknown` after a status record's lifetime is forever. */
const STATUS_LIFETIME_MS = STATUS_TTL_SECONDS * 1000;

/**
 * One entry of `POST /v1/notes/status`'s answer ({@link NoteStatus}), with the fields an `unknown`
 * entry lacks read as absent, so that callers can take them from either kind.
 */
export type StatusEntry = Pick<NoteStatus, "id" | "state"> &
  Partial<Omit<Extract<NoteStatus, { attempts: number }>, "id" | "state">>;

/** One request for at most {@link STATUS_BATCH_SIZE} ids; throws {@link NotepipeError}. */
export async function fetchStatuses(config: IngestConnection, ids: readonly string[]): Promise<StatusEntry[]> {
  const res = await request(config, "/v1/notes/status", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ids: [...ids] } satisfies NoteStatusQuery),
  });
  try {
    const entries: StatusEntry[] = ((await res.json()) as NoteStatusList).notes;
    if (!Array.isArray(entries)) throw new TypeError("notes is not an array");
    return entries;
  } catch (cause) {
    throw new NotepipeError("unexpected_response", "The status answer is not the ingest API's.", { cause });
  }
}

/**
 * The server's state, with `unknown` read for a note ingest accepted (answered 202): `pending` while
 * deliver has not written its first status, `expired` once a status record's lifetime has passed.
 */
export function clientState(entry: StatusEntry, acceptedAt: number, now: number): ClientNoteState {
  if (entry.state !== "unknown") return entry.state;
  return now - acceptedAt > STATUS_LIFETIME_MS ? "expired" : "pending";
}
