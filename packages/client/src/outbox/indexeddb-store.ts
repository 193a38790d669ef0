/**
 * Browsers (and service workers): the outbox in IndexedDB through idb-keyval, one database per
 * outbox, one key per note and one for the lease. Frames are stored as ArrayBuffers (structured
 * clone, no base64). Each method is one IndexedDB transaction with strict durability
 * (../indexeddb.ts), so a write that fails (quota, private mode) leaves nothing behind, a note whose
 * `enqueue` resolved is on disk, and the lease's read-and-replace is atomic across tabs.
 */

import { delMany, entries, set, type UseStore, update } from "idb-keyval";
import { createDurableStore } from "../indexeddb.ts";
import type { Lease, OutboxRecord, OutboxStore } from "./store.ts";

const LEASE_KEY = "lease";

type StoredRecord = Omit<OutboxRecord, "frame"> & { frame?: ArrayBuffer };

/**
 * @example
 * const outbox = createOutbox({ endpoint: "https://notes.example.com", store: new IndexedDbOutboxStore() });
 */
export class IndexedDbOutboxStore implements OutboxStore {
  readonly name: string;
  readonly #db: UseStore;

  /** `name` is the IndexedDB database's; the database is opened on first use. */
  constructor(name = "notepipe-outbox") {
    this.name = name;
    this.#db = createDurableStore(name, "notes");
  }

  async list(): Promise<OutboxRecord[]> {
    const stored = await entries<string, StoredRecord>(this.#db);
    return stored.flatMap(([key, { frame, ...record }]) =>
      key === LEASE_KEY ? [] : [frame === undefined ? record : { ...record, frame: new Uint8Array(frame) }],
    );
  }

  put({ frame, ...record }: OutboxRecord): Promise<void> {
    // slice(): the frame's own bytes, not the whole buffer a view might sit in.
    const stored: StoredRecord = frame === undefined ? record : { ...record, frame: frame.slice().buffer };
    return set(record.id, stored, this.#db);
  }

  delete(ids: readonly string[]): Promise<void> {
    return delMany([...ids], this.#db);
  }

  async updateLease(next: (current: Lease | undefined) => Lease | undefined): Promise<Lease | undefined> {
    let stored: Lease | undefined;
    await update<Lease | undefined>(LEASE_KEY, (current) => (stored = next(current)), this.#db);
    return stored;
  }
}
