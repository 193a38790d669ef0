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
  TOKEN_ADDRESS_HEADER,
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

/**
 * One request for the ids of at most {@link STATUS_BATCH_SIZE} notes, with `config.pollAs`'s token
 * if given; throws {@link NotepipeError}.
 */
export async function fetchStatuses(
  config: IngestConnection,
  notes: readonly { id: string }[],
): Promise<StatusEntry[]> {
  const as = config.pollAs;
  const res = await request(
    config,
    "/v1/notes/status",
    JSON.stringify({ ids: notes.map((note) => note.id) } satisfies NoteStatusQuery),
    as && { authorization: `Bearer ${as.token}`, [TOKEN_ADDRESS_HEADER]: as.to },
  );
  // The parse error, or whatever came instead of the list, is the cause.
  const entries: unknown = await res.json().then(
    (body: Partial<NoteStatusList> | null) => body?.notes,
    (error: unknown) => error,
  );
  if (Array.isArray(entries)) return entries;
  throw new NotepipeError("unexpected_response", "The status answer is not the ingest API's.", { cause: entries });
}

/**
 * The server's state, with `unknown` read for a note ingest accepted (answered 202): `pending` while
 * deliver has not written its first status, `expired` once a status record's lifetime has passed.
 */
export function clientState(entry: StatusEntry, acceptedAt: number, now: number): ClientNoteState {
  if (entry.state !== "unknown") return entry.state;
  return now - acceptedAt > STATUS_LIFETIME_MS ? "expired" : "pending";
}
