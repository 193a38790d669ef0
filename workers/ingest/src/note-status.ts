/**
 * What the status routes answer for one note (@notepipe/pipeline's NoteStatus): the KV record minus
 * what the client has no use for (provider id, next attempt). No address and no content are ever
 * stored, so none can leak here.
 */

import type { NoteStatus, StatusRecord } from "@notepipe/pipeline";
import { CORS_HEADERS } from "./cors.ts";

export function toNoteStatus(record: StatusRecord): NoteStatus {
  const { id, state, attempts, updatedAt, error } = record;
  return error === undefined ? { id, state, attempts, updatedAt } : { id, state, attempts, updatedAt, error };
}

/** Status answers change with every delivery attempt; no cache may keep one. CORS as on every answer. */
export const NO_STORE = { "cache-control": "no-store", ...CORS_HEADERS } as const;
