/** An outbox in memory: for tests, and for an app that accepts losing queued notes when it exits. */

import { noteIdToUuid } from "@notepipe/frame";
import { newNoteId } from "../seal.ts";
import type { Lease, OutboxRecord, OutboxStore } from "./store.ts";

/** A copy, so that no caller holds the stored record (or its frame's bytes) by reference. */
function copy(record: OutboxRecord): OutboxRecord {
  return record.frame === undefined ? { ...record } : { ...record, frame: record.frame.slice() };
}

export class MemoryOutboxStore implements OutboxStore {
  /** Random: two memory outboxes in two tabs are two outboxes, and must not share a Web Lock. */
  readonly name = `memory-${noteIdToUuid(newNoteId())}`;
  readonly #records = new Map<string, OutboxRecord>();
  #lease: Lease | undefined;

  async list(): Promise<OutboxRecord[]> {
    return [...this.#records.values()].map(copy);
  }

  async put(record: OutboxRecord): Promise<void> {
    this.#records.set(record.id, copy(record));
  }

  async delete(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.#records.delete(id);
  }

  async updateLease(next: (current: Lease | undefined) => Lease | undefined): Promise<Lease | undefined> {
    this.#lease = next(this.#lease);
    return this.#lease;
  }
}
