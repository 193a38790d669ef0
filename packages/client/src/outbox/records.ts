/**
 * The one owner of an outbox's records: every read and write of the store goes through here, and
 * so does every state change. A note leaves `queued` once (for `accepted`, `failed` or `expired`),
 * and with it the frame and the token, which nothing needs after that.
 */

import type { ClientNoteState } from "../config.ts";
import { storageCall } from "../errors.ts";
import type { Lease, OutboxNote, OutboxRecord, OutboxState, OutboxStore } from "./store.ts";

/** A note whose state moved during a drain. */
export interface OutboxChange {
  id: string;
  previous: OutboxState;
  state: OutboxState;
  /** For `failed` by ingest: the server's error code. */
  code?: string;
  error?: string;
}

/** Every record, oldest first. */
export async function readRecords(store: OutboxStore): Promise<OutboxRecord[]> {
  const records = await storageCall(() => store.list());
  return records.sort((a, b) => a.createdAt - b.createdAt);
}

export function writeRecord(store: OutboxStore, record: OutboxRecord): Promise<void> {
  return storageCall(() => store.put(record));
}

export function deleteRecords(store: OutboxStore, ids: readonly string[]): Promise<void> {
  return storageCall(() => store.delete(ids));
}

export function updateLease(store: OutboxStore, next: (current: Lease | undefined) => Lease | undefined) {
  return storageCall(() => store.updateLease(next));
}

/** The record as the app sees it: without the frame, the recipient and the token. */
export function toNote({ frame, to, token, ...note }: OutboxRecord): OutboxNote {
  return note;
}

/** The record after it left `queued`: only what the app sees, with `changes` applied. */
export function moved(record: OutboxRecord, changes: Partial<OutboxNote> & { state: OutboxState }): OutboxRecord {
  return { ...toNote(record), ...changes };
}

/** What the status API's states (and `resumeOnOpen`'s `pending`) are in the outbox's one list. */
export function outboxState(state: ClientNoteState): OutboxState {
  return state === "pending" || state === "queued" || state === "retrying" ? "accepted" : state;
}

/** Accepted by ingest and not yet in a state after which nothing more will be learnt. */
export function isFollowed(record: OutboxRecord, finalStates: ReadonlySet<string>): boolean {
  return record.acceptedAt !== undefined && record.state !== "expired" && !finalStates.has(record.state);
}
