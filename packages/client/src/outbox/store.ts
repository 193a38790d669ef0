/**
 * What an outbox storage adapter keeps: one record per note, and the drain lease. Adapters store
 * and return records as they are given (IndexedDB, AsyncStorage, memory); what the records mean and
 * the order their states move in belong to records.ts alone.
 */

/**
 * A note's state in the outbox, one list for the app:
 * `queued` → `accepted` (ingest answered 202) → `sent` → `delivered` | `bounced` | `complained`,
 * or `failed` (refused by ingest, or given up by deliver), `dead` (dead-lettered by deliver),
 * `expired` (unsent after `expireAfterMs`, or no status 30 days after it was accepted).
 */
export type OutboxState =
  | "queued"
  | "accepted"
  | "sent"
  | "delivered"
  | "bounced"
  | "complained"
  | "failed"
  | "dead"
  | "expired";

/** What the app sees of a note: ids, states and times; never an address or any content. */
export interface OutboxNote {
  /** The note id, a lowercase UUID: the id inside the frame, the same on every attempt. */
  id: string;
  state: OutboxState;
  /** When `enqueue` stored it, in ms since the epoch; the outbox sends oldest first. */
  createdAt: number;
  /** The id of the kept key it is encrypted under (`findKey(keys, keyId)` to decrypt its email). */
  keyId?: string;
  /** When ingest answered 202. */
  acceptedAt?: number;
  /** For `failed` by ingest: the server's error code (`recipient_not_allowed`, …). */
  code?: string;
  /** Why it is `failed`, `bounced`, `dead`: one sentence from the server. */
  error?: string;
  /** From the last status poll: deliver's send attempts and the ISO time of its status. */
  attempts?: number;
  updatedAt?: string;
}

/**
 * What a store holds for a note. While it is `queued`, also what sending it takes: the frame
 * (recipient in clear, ciphertext), the recipient again for `getToken`, and the token if `enqueue`
 * was given one. Dropped once the note leaves `queued`. Never the plaintext, never the key.
 */
export interface OutboxRecord extends OutboxNote {
  frame?: Uint8Array<ArrayBuffer>;
  to?: string;
  token?: string;
}

/** One drainer at a time where the platform has no Web Locks: who drains, and until when. */
export interface Lease {
  owner: string;
  /** ms since the epoch; after it, another drainer may take over. */
  until: number;
}

/**
 * Storage for an outbox. Every method may reject (quota, private mode, a closed database): the
 * outbox turns that into a `storage_failed` error.
 */
export interface OutboxStore {
  /** Names the outbox: the Web Lock its drainers share is named after it. */
  readonly name: string;
  /** Every record, in any order. */
  list(): Promise<OutboxRecord[]>;
  /** Adds or replaces one record by id: whole, or not at all. */
  put(record: OutboxRecord): Promise<void>;
  /** Unknown ids are ignored. */
  delete(ids: readonly string[]): Promise<void>;
  /**
   * Replaces the lease with `next(current)` (`undefined`: none) and answers the lease then stored.
   * Atomic where the storage has transactions (IndexedDB); elsewhere, atomic within one JS runtime.
   */
  updateLease(next: (current: Lease | undefined) => Lease | undefined): Promise<Lease | undefined>;
}
