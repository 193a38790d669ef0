/**
 * React Native: the outbox in AsyncStorage (`@react-native-async-storage/async-storage`, its v2
 * default export or a v3 `createAsyncStorage(…)` instance), or anything with the same four methods.
 * One key per note, so that each write is one `setItem` (whole or not at all); frames as base64,
 * since AsyncStorage holds strings.
 */

import { decodeBase64, encodeBase64 } from "../base64.ts";
import type { Lease, OutboxRecord, OutboxStore } from "./store.ts";

/** The part of AsyncStorage this store uses. */
export interface AsyncKeyValueStorage {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  removeItem(key: string): Promise<void>;
  getAllKeys(): Promise<readonly string[]>;
}

type StoredRecord = Omit<OutboxRecord, "frame"> & { frame?: string };

/**
 * @example
 * import AsyncStorage from "@react-native-async-storage/async-storage";
 * const outbox = createOutbox({ endpoint, store: new AsyncStorageOutboxStore(AsyncStorage) });
 */
export class AsyncStorageOutboxStore implements OutboxStore {
  readonly name: string;
  readonly #storage: AsyncKeyValueStorage;
  readonly #notePrefix: string;
  readonly #leaseKey: string;
  /**
   * AsyncStorage has no transactions: lease updates are chained so that two in one JS runtime
   * (the app and a background task share one) never interleave their read and write.
   */
  #leaseUpdates: Promise<unknown> = Promise.resolve();

  /** Keys are `<name>:note:<id>` and `<name>:lease`. */
  constructor(storage: AsyncKeyValueStorage, name = "notepipe-outbox") {
    this.name = name;
    this.#storage = storage;
    this.#notePrefix = `${name}:note:`;
    this.#leaseKey = `${name}:lease`;
  }

  async list(): Promise<OutboxRecord[]> {
    const keys = (await this.#storage.getAllKeys()).filter((key) => key.startsWith(this.#notePrefix));
    const values = await Promise.all(keys.map((key) => this.#storage.getItem(key)));
    return values.flatMap((json) => {
      if (json === null) return [];
      const { frame, ...record } = JSON.parse(json) as StoredRecord;
      const bytes = frame === undefined ? null : decodeBase64(frame);
      return [bytes === null ? record : { ...record, frame: bytes }];
    });
  }

  put({ frame, ...record }: OutboxRecord): Promise<void> {
    const stored: StoredRecord = frame === undefined ? record : { ...record, frame: encodeBase64(frame) };
    return this.#storage.setItem(this.#notePrefix + record.id, JSON.stringify(stored));
  }

  async delete(ids: readonly string[]): Promise<void> {
    await Promise.all(ids.map((id) => this.#storage.removeItem(this.#notePrefix + id)));
  }

  updateLease(next: (current: Lease | undefined) => Lease | undefined): Promise<Lease | undefined> {
    const updated = this.#leaseUpdates.then(async () => {
      const json = await this.#storage.getItem(this.#leaseKey);
      const lease = next(json === null ? undefined : (JSON.parse(json) as Lease));
      if (lease === undefined) await this.#storage.removeItem(this.#leaseKey);
      else await this.#storage.setItem(this.#leaseKey, JSON.stringify(lease));
      return lease;
    });
    this.#leaseUpdates = updated.catch(() => undefined);
    return updated;
  }
}
