/**
 * `POST /v1/notes/status`: what became of notes ingest accepted. `resumeOnOpen` and the outbox's
 * drain both poll through here.
 */

import type { NoteState } from "@notepipe/pipeline";
import type { ClientNoteState, IngestConnection } from "./config.ts";
import { NotepipeError } from "./errors.ts";
import { request } from "./request.ts";

/** `POST /v1/notes/status` takes at most 100 ids: KV's bulk get reads 100 keys per operation. */
export const STATUS_BATCH_SIZE = 100;
/** A status record lives 30 days in KV (STATUS_TTL_SECONDS); `unknown` after that is forever. */
const STATUS_LIFETIME_MS = 30 * 24 * 60 * 60 * 1000;

/** One entry of `POST /v1/notes/status`'s answer. */
export type StatusEntry = {
  id: string;
  state: NoteState | "unknown";
  attempts?: number;
  updatedAt?: string;
  error?: string;
};

/** One request for at most {@link STATUS_BATCH_SIZE} ids; throws {@link NotepipeError}. */
export async function fetchStatuses(config: IngestConnection, ids: readonly string[]): Promise<StatusEntry[]> {
  const res = await request(config, "/v1/notes/status", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ids }),
  });
  try {
    const entries = ((await res.json()) as { notes: StatusEntry[] }).notes;
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
