/**
 * `resumeOnOpen`: on the next app start, learn what became of the notes sent earlier.
 */

import { type ClientConfig, type ClientNoteState, DEFAULT_FINAL_STATES } from "./config.ts";
import type { PendingNote, PendingStore } from "./pending.ts";
import { clientState, fetchStatuses, STATUS_BATCH_SIZE } from "./status.ts";

export interface NoteChange {
  id: string;
  previous: ClientNoteState;
  state: ClientNoteState;
  /** Whether the note reached a final state and was removed from the store. */
  final: boolean;
  attempts?: number;
  updatedAt?: string;
  /** Why it is `retrying`, `failed`, `bounced`, `dead`: one sentence from the server. */
  error?: string;
}

export interface ResumeResult {
  /** Notes whose state moved since the last poll, in the store's order. */
  changes: NoteChange[];
  /** What the store still holds after this poll. */
  pending: PendingNote[];
}

/**
 * Polls every note in `config.store` with one `POST /v1/notes/status` per 100 ids, maps `unknown`
 * to `pending` (or `expired` after 30 days), stores the new states, removes the notes that reached
 * a final state (`config.finalStates`, default {@link DEFAULT_FINAL_STATES}), and reports what
 * changed. Throws {@link NotepipeError} if a poll fails; the store is then left as it was for the
 * ids of that chunk and the chunks after it.
 *
 * @example
 * const { changes } = await resumeOnOpen(client);
 * for (const change of changes) showBadge(change.id, change.state);
 */
export async function resumeOnOpen(config: ClientConfig & { store: PendingStore }): Promise<ResumeResult> {
  const { store } = config;
  const finalStates = new Set(config.finalStates ?? DEFAULT_FINAL_STATES);
  const notes = await store.list();
  const byId = new Map(notes.map((note) => [note.id, note]));
  const changes: NoteChange[] = [];

  for (let start = 0; start < notes.length; start += STATUS_BATCH_SIZE) {
    const entries = await fetchStatuses(config, notes.slice(start, start + STATUS_BATCH_SIZE));

    const now = Date.now();
    const updated: PendingNote[] = [];
    const finished: string[] = [];
    for (const entry of entries) {
      const note = byId.get(entry.id);
      if (note === undefined) continue;
      const state = clientState(entry, note.acceptedAt, now);
      const final = finalStates.has(state) || state === "expired";
      const { attempts, updatedAt, error } = entry;
      if (state !== note.state) {
        changes.push({ id: note.id, previous: note.state, state, final, attempts, updatedAt, error });
      }
      if (final) {
        byId.delete(note.id);
        finished.push(note.id);
      } else if (state !== note.state || updatedAt !== note.updatedAt) {
        const next = { ...note, state, attempts, updatedAt, error };
        byId.set(note.id, next);
        updated.push(next);
      }
    }
    if (updated.length > 0) await store.put(updated);
    if (finished.length > 0) await store.remove(finished);
  }
  return { changes, pending: [...byId.values()] };
}
