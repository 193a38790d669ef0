/**
 * Browsers: keys in IndexedDB as CryptoKey objects, which structured clone stores as they are, a
 * non-extractable key included (https://developer.mozilla.org/en-US/docs/Web/API/Web_Workers_API/Structured_clone_algorithm),
 * each written in one transaction with strict durability (../indexeddb.ts). Unlike localStorage, which Chromium
 * writes to disk lazily from memory, a key whose `put` resolved is on disk.
 */

import { set, type UseStore, values } from "idb-keyval";
import { createDurableStore } from "../indexeddb.ts";
import type { KeptKey, KeyStore } from "./key-store.ts";

/**
 * @example
 * const keys = new IndexedDbKeyStore();
 * const kept = (await currentKey(keys)) ?? (await keepNewKey(keys));
 */
export class IndexedDbKeyStore implements KeyStore {
  readonly #db: UseStore;

  /** `name` is the IndexedDB database's; it is opened on first use. */
  constructor(name = "notepipe-keys") {
    this.#db = createDurableStore(name, "keys");
  }

  list(): Promise<KeptKey[]> {
    return values<KeptKey>(this.#db);
  }

  put(kept: KeptKey): Promise<void> {
    return set(kept.id, kept, this.#db);
  }
}
